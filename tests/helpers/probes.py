"""Callbacks that tests add through the config (`+callbacks.probe._target_=tests.helpers.probes.EpochProbe`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback


class EpochProbe(Callback):
    """Appends, at every training epoch start, the epoch, the trainable parameter count and the
    learning rate of every param group to a JSON-lines file; optionally stops after some epochs
    (as a killed job would, once its `last.ckpt` is written).

    Args:
        path: the JSON-lines file.
        stop_after: stop once this many epochs are complete (None: never).
        pause_s: sleep this long before each epoch but the first (the previous epoch's `last.ckpt`
            is written by then): time for a test to kill the process between epochs.
    """

    def __init__(self, path: str, stop_after: int | None = None, pause_s: float = 0.0) -> None:
        self.path, self.stop_after, self.pause_s = Path(path), stop_after, pause_s

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch > 0:
            time.sleep(self.pause_s)
        optimizer = trainer.optimizers[0]
        record = {
            "epoch": trainer.current_epoch,
            "trainable": sum(p.requires_grad for p in pl_module.parameters()),
            "lrs": [round(g["lr"], 12) for g in optimizer.param_groups],
        }
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.stop_after is not None and trainer.current_epoch + 1 >= self.stop_after:
            trainer.should_stop = True


def read_probe(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]

