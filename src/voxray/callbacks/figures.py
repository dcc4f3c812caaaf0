"""TensorBoard figures of every evaluation epoch: confusion matrix, ROC and PR curves, sample inputs."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from typing_extensions import override

from voxray.reporting.tensorboard import log_eval_epoch


class EvalFigures(Callback):
    """After each validation and test run, the figures of what the model's epoch end left in
    `pl_module.eval_figures` (one entry per task), drawn into every TensorBoard logger by rank zero.

    A callback rather than the LightningModule's own code: the model computes numbers, and what is
    drawn from them, and where, is the run's choice (`callbacks.eval_figures=null` draws none).
    """

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._draw(trainer, pl_module)

    @override
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._draw(trainer, pl_module)

    @staticmethod
    def _draw(trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                for figure in getattr(pl_module, "eval_figures", ()):
                    log_eval_epoch(logger, **figure)
