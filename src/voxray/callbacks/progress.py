"""What a person follows while a run goes: one log line per epoch, the model summary, and a logging
interval that fits the data (the log's own set-up is `voxray.cli.logs`)."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.callbacks import ModelSummary as LightningModelSummary
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table
from typing_extensions import override

log = logging.getLogger(__name__)


class EpochLog(Callback):
    """After every training epoch one INFO line, through `logging`: the console and the run's log file.

    `epoch 2 (3 of 40)  train/loss 1.412  val/uar 0.388 (best 0.402 at epoch 1)  27 s  at most 16 min 39 s left`
    An epoch is named as everywhere else (checkpoint names, epochs.csv, metrics.json, Lightning's
    progress bar): counted from 0; "3 of 40" counts it for people. The time left assumes every
    epoch runs; early stopping may end sooner.

    Args:
        monitor: the validation metric to show and track (`${optimized_metric}`, e.g. val/uar).
        mode: "max" or "min", which direction is better (max).
        loss: the training loss the model logs with on_epoch=True (train/loss).
    """

    def __init__(self, monitor: str, mode: str = "max", loss: str = "train/loss") -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.monitor, self.mode, self.loss = monitor, mode, loss
        self.best: float | None = None
        self.best_epoch: int | None = None
        self._value: float | None = None  # the monitored metric of this epoch's validation
        self._started = 0.0
        self._durations: list[float] = []

    @override
    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started, self._value = time.monotonic(), None

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None:
            return
        self._value = float(value)
        if math.isnan(self._value):
            return
        if self.best is None or (self._value > self.best if self.mode == "max" else self._value < self.best):
            self.best, self.best_epoch = self._value, trainer.current_epoch

    @override
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds = time.monotonic() - self._started
        self._durations.append(seconds)
        if not trainer.is_global_zero:
            return
        epoch, total = trainer.current_epoch, trainer.max_epochs
        done = epoch + 1  # epochs completed
        metrics = trainer.callback_metrics
        loss = metrics.get(f"{self.loss}_epoch", metrics.get(self.loss))
        parts = [f"epoch {epoch} ({done} of {total})" if total and total > 0 else f"epoch {epoch}",
                 f"{self.loss} {float(loss):.4f}" if loss is not None else f"{self.loss} -",
                 f"{self.monitor} {self._value:.4f}" if self._value is not None else f"{self.monitor} -"]
        if self.best is not None:
            parts[-1] += f" (best {self.best:.4f} at epoch {self.best_epoch})"
        parts.append(_duration(seconds))
        if total and total > done and not trainer.fast_dev_run:
            mean = sum(self._durations) / len(self._durations)
            parts.append(f"at most {_duration(mean * (total - done))} left")
        log.info("  ".join(parts))

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best, self.best_epoch = state_dict["best"], state_dict["best_epoch"]


class LogInterval(Callback):
    """`trainer.log_every_n_steps` at most the training batches of one epoch, set when fitting starts.

    On a small data set (or with `limit_train_batches`) an epoch is shorter than the configured
    interval: the training curve would get no point, and Lightning warns about it.
    """

    @override
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit" and trainer.datamodule is not None:
            trainer.log_every_n_steps = max(1, min(trainer.log_every_n_steps, _epoch_batches(trainer)))


def _epoch_batches(trainer: L.Trainer) -> int:
    """Training batches of one process per epoch: the loader's, shared among processes, cut by the limit."""
    batches = len(trainer.datamodule.train_dataloader()) // max(trainer.world_size, 1)
    limit = trainer.limit_train_batches
    return min(batches, limit) if isinstance(limit, int) else int(batches * limit)


class ModelSummary(LightningModelSummary):
    """Lightning's table of layers and parameter counts, in the log (the console and the run's log file).

    Lightning counts FLOPs only for a model with an `example_input_array`; voxray's models take raw
    batches of any length and have none, so the FLOPs column and total (all 0) are left out.
    """

    @staticmethod
    @override
    def summarize(summary_data: list[tuple[str, list[str]]], total_parameters: int, trainable_parameters: int,
                  model_size: float, total_training_modes: dict[str, int], total_flops: int,
                  **summarize_kwargs: Any) -> None:
        if total_flops:
            columns = summary_data
        else:
            columns = [column for column in summary_data if column[0] != "FLOPs"]
        table = _format_summary_table(total_parameters, trainable_parameters, model_size, total_training_modes,
                                      total_flops, *columns).splitlines()
        if not total_flops and table[-1].endswith("Total Flops"):
            table.pop()
        logging.getLogger(LightningModelSummary.__module__).info("\n" + "\n".join(table))  # Lightning's logger


def _duration(seconds: float) -> str:
    """27 s, 16 min 39 s, 2 h 05 min."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
