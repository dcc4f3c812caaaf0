"""`evaluate(cfg)`: test a checkpoint; the model and data settings come from the checkpoint itself."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from voxray.checkpoint import build_model, load_run
from voxray.html_report.build import write_report
from voxray.reporting.metrics_file import write_stage_report
from voxray.reporting.predictions import write_test_predictions


def evaluate(cfg: DictConfig) -> dict:
    """Test `cfg.ckpt_path` on the test split; writes metrics.json, confusion PNGs, test_predictions.csv
    and report.html to the run folder."""
    ckpt, run_cfg = load_run(cfg.ckpt_path)
    out = Path(cfg.paths.output_dir)
    # this run's paths, the checkpoint's data settings (plus any data.* overrides given here)
    data_cfg = OmegaConf.merge(
        run_cfg.data, {"cache_dir": cfg.paths.cache_dir, "report_dir": str(out)}, cfg.get("data") or {}
    )
    datamodule = instantiate(data_cfg)
    model = build_model(ckpt, run_cfg)
    trainer: L.Trainer = instantiate(cfg.trainer, logger=False)
    trainer.test(model, datamodule=datamodule)
    metrics = model.final_metrics["test"]
    write_stage_report(metrics, model.class_names, out, "test", str(cfg.ckpt_path), ckpt.get("epoch"))
    write_test_predictions(datamodule, model, out)
    if cfg.get("gradcam"):
        from voxray.reporting.gradcam import write_gradcam

        written = write_gradcam(model, datamodule.test_dataloader(), out, cfg.gradcam_per_group)
        print(f"Grad-CAM overlays in {out / 'gradcam'}: {written}")
    write_report(out, model, datamodule)
    return metrics
