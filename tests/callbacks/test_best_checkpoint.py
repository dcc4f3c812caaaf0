"""`checkpoints/best.ckpt`: the checkpoint a run tested and describes in metrics.json, for deployment."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
import torch

from tests.helpers.config import VOICE_TINY, compose_cfg
from voxray.checkpoint import load_run, publish
from voxray.train import train

TINY = [*VOICE_TINY, "trainer.max_epochs=2", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1"]


@pytest.mark.parametrize("mode, best_epoch", [("max", 1), ("min", 0)])
def test_best_ckpt_is_the_tested_checkpoint(tmp_path: Path, official_corpus_module: Path, mode: str,
                                           best_epoch: int, caplog: pytest.LogCaptureFixture) -> None:
    """Monitoring the epoch number itself: with mode=max every epoch is a new best (best.ckpt is
    replaced), with mode=min the first stays best while last.ckpt moves on."""
    out = tmp_path / "run"
    train(compose_cfg("train", out, tmp_path / "cache", [
        f"data.root={official_corpus_module}", *TINY,
        "callbacks.model_checkpoint.monitor=epoch", f"callbacks.model_checkpoint.mode={mode}"]))
    folder = out / "checkpoints"
    best, last = folder / "best.ckpt", folder / "last.ckpt"
    epoch_file = folder / f"epoch_{best_epoch:03d}.ckpt"
    assert sorted(p.name for p in folder.iterdir()) == sorted(["best.ckpt", "last.ckpt", epoch_file.name])
    assert best.is_file() and not best.is_symlink(), "a file of its own: it survives copying the folder"
    saved = torch.load(best, weights_only=True)
    assert saved["epoch"] == best_epoch and torch.load(last, weights_only=True)["epoch"] == 1
    for name, tensor in torch.load(epoch_file, weights_only=True)["state_dict"].items():
        assert torch.equal(saved["state_dict"][name], tensor), name

    metrics = json.loads((out / "metrics.json").read_text())
    assert Path(metrics["checkpoint"]) == best and metrics["epoch"] == best_epoch

    with caplog.at_level(logging.INFO, logger="voxray"):
        load_run(best)
        load_run(last)
    assert [r.getMessage() for r in caplog.records if r.name == "voxray.checkpoint"] == [
        f"loading {best}: the weights of epoch {best_epoch} (counted from 0, as in the epoch_NNN.ckpt names); "
        f"the run's best checkpoint by then: {epoch_file.name}",
        f"loading {last}: the weights of epoch 1 (counted from 0, as in the epoch_NNN.ckpt names); "
        f"the run's best checkpoint by then: {epoch_file.name}",
    ]


def test_publish_replaces_the_copy_in_one_step(tmp_path: Path) -> None:
    first, second, best = tmp_path / "epoch_000.ckpt", tmp_path / "epoch_001.ckpt", tmp_path / "best.ckpt"
    first.write_bytes(b"first")
    second.write_bytes(b"second")
    publish(first, best)
    first.unlink()  # Lightning removes the previous top-k file
    assert best.read_bytes() == b"first"
    publish(second, best)
    assert best.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "epoch_001.ckpt"], "no temporary file left"
    publish(second, best)  # already the same file: nothing to do
    assert os.path.samefile(second, best) or best.read_bytes() == b"second"
