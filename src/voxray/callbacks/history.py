"""`<run>/epochs.csv`: every epoch's logged scalars, whatever the logger (or none), across resumes."""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
import pandas as pd
from lightning.pytorch.callbacks import Callback
from typing_extensions import override


class EpochHistory(Callback):
    """After every training epoch (its validation included) one row per epoch in a CSV file.

    The row holds `epoch` (counted from 0, as in checkpoint names), `step` and every scalar in
    `trainer.callback_metrics` (train/loss, val/*). The file is rewritten each epoch: rows from
    this epoch on are replaced, so a run resumed from `last.ckpt` continues it without duplicates.

    Args:
        path: the CSV file (`${paths.output_dir}/epochs.csv`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @override
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        row |= {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        earlier = pd.read_csv(self.path) if self.path.is_file() else pd.DataFrame(columns=["epoch"])
        earlier = earlier[earlier["epoch"] < trainer.current_epoch]
        table = pd.concat([earlier, pd.DataFrame([row])], ignore_index=True) if len(earlier) else pd.DataFrame([row])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        part = self.path.with_name(f".{self.path.name}.part")  # a run killed mid-write keeps the last table
        table.to_csv(part, index=False)
        os.replace(part, self.path)
