"""`train(cfg)`: build everything from the composed Hydra config, fit, test, report."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf

from voxray.callbacks.resume import RunCheckpoint, continue_run
from voxray.checkpoint import check_resume, checkpoint_epoch
from voxray.html_report.build import write_report
from voxray.reporting.metrics_file import write_json, write_stage_report
from voxray.reporting.predictions import write_test_predictions
from voxray.reporting.tensorboard import log_hparams


def instantiate_group(group: DictConfig | None) -> list:
    """Instantiate every entry of a callbacks/logger group (entries set to null are dropped)."""
    if not group:
        return []
    return [instantiate(c) for c in group.values() if c is not None and "_target_" in c]


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and test) the model of `cfg`; returns the final metrics, `cfg.optimized_metric` among them."""
    check_resume(cfg)  # train.py checks it first; a direct call gets the same answer
    if cfg.get("ckpt_path"):
        continue_run(cfg)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    model.run_config = OmegaConf.to_container(cfg, resolve=True)
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=instantiate_group(cfg.get("callbacks")), logger=instantiate_group(cfg.get("logger"))
    )
    out = Path(cfg.paths.output_dir)
    if cfg.get("train", True):
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    ckpt_cb = trainer.checkpoint_callback
    best = ckpt_cb.best_model_path if ckpt_cb else ""
    if best and ckpt_cb.monitor and ckpt_cb.best_model_score is not None:
        # a sweep compares runs by their best epoch (the one tested), not by their last
        metrics[ckpt_cb.monitor] = float(ckpt_cb.best_model_score)
    if best and isinstance(ckpt_cb, RunCheckpoint):
        best = ckpt_cb.best_copy  # best.ckpt: the file to deploy is the file tested
    if cfg.get("test", True):
        # test the best checkpoint, not the last epoch's weights (fast_dev_run keeps none)
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1})
        if trainer.is_global_zero:
            write_stage_report(model.final_metrics["test"], model.class_names, out, "test", best,
                               checkpoint_epoch(best) if best else None)
            write_test_predictions(datamodule, model, out)
            write_report(out, model, datamodule)
    log_hparams(trainer.loggers, model.run_config, metrics)
    if trainer.is_global_zero:
        write_json(out / "train_metrics.json", dict(sorted(metrics.items())))
        rank_zero_info(f"best checkpoint: {best or 'none'}; outputs in {out}")
    return metrics
