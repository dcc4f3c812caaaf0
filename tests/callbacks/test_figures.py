"""TensorBoard figures of each evaluation epoch come from the EvalFigures callback (the model only
computes what they show), and a run without the callback draws none."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.helpers.config import VOICE_TINY, compose_cfg
from voxray.train import train

TINY = [*VOICE_TINY, "logger=tensorboard", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1"]


def figure_tags(run: Path) -> set[str]:
    tags: set[str] = set()
    for events in run.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events), size_guidance={"images": 0})
        accumulator.Reload()
        tags |= set(accumulator.Tags()["images"])
    return tags


@pytest.mark.parametrize("figures", [True, False])
def test_eval_figures_are_drawn_by_the_callback(tmp_path: Path, official_corpus: Path, figures: bool) -> None:
    extra = [] if figures else ["callbacks.eval_figures=null"]
    train(compose_cfg("train", tmp_path / "run", tmp_path / "cache", [f"data.root={official_corpus}", *TINY, *extra]))
    tags = figure_tags(tmp_path / "run")
    if figures:
        assert {"val/confusion_matrix", "val/roc", "val/samples", "test/confusion_matrix", "test/roc"} <= tags, tags
    else:
        assert not tags, tags
