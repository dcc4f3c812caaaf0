"""`evaluate(cfg)`: test a checkpoint; the model and data settings come from the checkpoint itself."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from voxray.checkpoint_files import describe
from voxray.errors import CKPT_EXAMPLE, UserError
from voxray.html_report.build import write_report
from voxray.predictions import write_test_predictions
from voxray.report import write_stage_report

log = logging.getLogger(__name__)


def load_run(ckpt_path: str | Path) -> tuple[dict, DictConfig]:
    """Read a voxray checkpoint safely (weights_only=True) and log which epoch's weights it holds;
    returns (checkpoint, its run config)."""
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        # torch's first sentence says what failed; the rest suggests an unsafe load, which we never do
        first = str(err).strip().split(". ")[0].splitlines()[0].rstrip(".") if str(err).strip() else type(err).__name__
        raise UserError(f"{path} cannot be read as a checkpoint with weights_only=True ({first}); "
                        f"pass one that train.py wrote, e.g. {CKPT_EXAMPLE}") from err
    if not isinstance(ckpt, dict) or "voxray" not in ckpt or not ckpt["voxray"].get("config"):
        raise UserError(f"{path} is not a voxray checkpoint (no stored run config); "
                        f"pass one that train.py wrote, e.g. {CKPT_EXAMPLE}")
    log.info(describe(path, ckpt))  # eval, predict and export say which weights they use
    return ckpt, OmegaConf.create(ckpt["voxray"]["config"])


def build_model(ckpt: dict, run_cfg: DictConfig) -> L.LightningModule:
    """The run's LightningModule with the checkpoint's weights (class weights and threshold too).

    The network is built without its pretrained weights: the checkpoint's replace them, so a model
    fine-tuned from hub or file weights is rebuilt offline, without that file.
    """
    net = run_cfg.model.net
    no_fetch = {k: v for k, v in (("pretrained", False), ("weights", None)) if k in net}
    model = instantiate(OmegaConf.merge(run_cfg.model, {"net": no_fetch}))
    model.on_load_checkpoint(ckpt)  # as Lightning does before the weights: what the checkpoint adds
    model.load_state_dict(ckpt["state_dict"])
    model.run_config = OmegaConf.to_container(run_cfg)
    return model


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
        from voxray.gradcam import write_gradcam

        written = write_gradcam(model, datamodule.test_dataloader(), out, cfg.gradcam_per_group)
        print(f"Grad-CAM overlays in {out / 'gradcam'}: {written}")
    write_report(out, model, datamodule)
    return metrics
