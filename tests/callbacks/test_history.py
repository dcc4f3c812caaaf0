"""`epochs.csv`: one row per epoch, across resumes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from voxray.callbacks.history import EpochHistory


def test_epoch_history_replaces_epochs_a_resume_repeats(tmp_path: Path) -> None:
    history = EpochHistory(tmp_path / "epochs.csv")

    def epoch(n: int, loss: float) -> None:
        trainer = SimpleNamespace(is_global_zero=True, sanity_checking=False, current_epoch=n, global_step=10 * (n + 1),
                                  callback_metrics={"train/loss": torch.tensor(loss), "val/uar": torch.tensor(0.5)})
        history.on_train_epoch_end(trainer, None)

    epoch(0, 1.0), epoch(1, 0.9), epoch(2, 0.8)
    epoch(2, 0.7)  # resumed from the checkpoint of epoch 1: epoch 2 runs again
    table = pd.read_csv(tmp_path / "epochs.csv")
    assert table["epoch"].tolist() == [0, 1, 2] and table["train/loss"].tolist() == pytest.approx([1.0, 0.9, 0.7])
    assert [p.name for p in tmp_path.iterdir()] == ["epochs.csv"], "written through a temporary file, then renamed"
