"""What a person follows while a run goes: one log line per epoch, the model summary and each library
line once, a logging interval that fits the data, and library noise filtered where it arises (never
by silencing a whole library)."""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.callbacks import ModelSummary as LightningModelSummary
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table
from typing_extensions import override

log = logging.getLogger(__name__)
# torchmetrics on a split that lacks a class, per class, metric and epoch: the classifier says it once
SINGLE_CLASS_WARNINGS = ("No positive samples in targets", "No negative samples in targets",
                         "No positive samples found in target", "Average precision score for one or more classes")


class EpochLog(Callback):
    """After every training epoch one INFO line, through `logging`: the console and the run's log file.

    `epoch 3/40  train/loss 1.412  val/uar 0.388 (best 0.402, epoch 2)  27 s  at most 16 min 39 s left`
    (epochs counted from 1; the time left assumes every epoch runs, early stopping may end sooner).

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
            self.best, self.best_epoch = self._value, trainer.current_epoch + 1

    @override
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds = time.monotonic() - self._started
        self._durations.append(seconds)
        if not trainer.is_global_zero:
            return
        epoch, total = trainer.current_epoch + 1, trainer.max_epochs
        metrics = trainer.callback_metrics
        loss = metrics.get(f"{self.loss}_epoch", metrics.get(self.loss))
        parts = [f"epoch {epoch}/{total}" if total and total > 0 else f"epoch {epoch}",
                 f"{self.loss} {float(loss):.4f}" if loss is not None else f"{self.loss} -",
                 f"{self.monitor} {self._value:.4f}" if self._value is not None else f"{self.monitor} -"]
        if self.best is not None:
            parts[-1] += f" (best {self.best:.4f}, epoch {self.best_epoch})"
        parts.append(_duration(seconds))
        if total and total > epoch and not trainer.fast_dev_run:
            mean = sum(self._durations) / len(self._durations)
            parts.append(f"at most {_duration(mean * (total - epoch))} left")
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


def _not_an_advert(record: logging.LogRecord) -> bool:
    """False for Lightning's tips that advertise its cloud products (litlogger, litmodels)."""
    message = record.getMessage()
    return not (message.startswith("💡 Tip:") and ("litlogger" in message or "litmodels" in message))


class _CurrentStdout:
    """`sys.stdout` as it is at each write. While Rich's live progress bar runs in a terminal that is
    Rich's proxy, which prints the line above the bar; a handler holding the original stream would
    write into the bar, and the bar's next refresh would erase the line."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def setup_run_logs() -> None:
    """Adjust the logging that Hydra set up for a run; call once the libraries are imported.

    - Console log lines go to the current `sys.stdout`, so they stay readable above the progress bar.
    - `lightning/__init__.py` gives the `lightning` logger its own stderr handler although its records
      also reach the root logger, so under Hydra every Lightning INFO line came out twice: that
      handler goes when the root logger has handlers (it stays for plain scripts and tests).
    - Lightning's tips advertising litlogger / litmodels are dropped on its rank-zero logger.
    - Library warnings nobody can act on are ignored (`filter_library_warnings`).
    """
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.__stdout__):
            handler.setStream(_CurrentStdout())
    if root.handlers:
        lightning_log = logging.getLogger("lightning")
        for handler in list(lightning_log.handlers):
            lightning_log.removeHandler(handler)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_not_an_advert)
    filter_library_warnings()


def filter_library_warnings() -> None:
    """Ignore torch 2.11's FutureWarning on `LeafSpec` (from Lightning 2.6's `_pytree`, and in export)
    and torchmetrics' warnings on a class missing from a split (`Classifier` logs one line instead)."""
    # one message, two call sites: Lightning's `_pytree` and torch.export copying a spec (copyreg)
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                            category=FutureWarning)
    for message in SINGLE_CLASS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=UserWarning)
