"""What the DataModule says about its split, and the order it serves training batches in."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf
from hydra.utils import instantiate

from tests.helpers.config import compose_cfg
from tests.helpers.voices import tone


def kaggle_corpus(root: Path) -> Path:
    """The Kaggle Common Voice copy: no client_id column, so no speaker ids at all."""
    for split, n in [("train", 8), ("dev", 4), ("test", 4)]:
        clips = root / f"cv-valid-{split}"
        clips.mkdir(parents=True)
        names = [f"cv-valid-{split}/sample-{i:06d}.mp3" for i in range(n)]
        for i, name in enumerate(names):
            sf.write(root / name, tone(120.0 + 80 * (i % 2), 1.0), 16000, format="MP3")
        pd.DataFrame({"filename": names, "age": "twenties", "gender": ["male", "female"] * (n // 2)}
                     ).to_csv(root / f"cv-valid-{split}.csv", index=False)
    return root


def data_report(root: Path, tmp_path: Path) -> dict:
    cfg = compose_cfg("train", tmp_path / "run", tmp_path / "cache",
                      [f"data.root={root}", "data.target=gender", "data.num_workers=0", "data.clean.denoise=false"])
    instantiate(cfg.data).setup("fit")
    return json.loads((tmp_path / "run" / "data_report.json").read_text())


def test_a_split_without_speaker_ids_says_its_disjointness_check_is_vacuous(tmp_path: Path) -> None:
    report = data_report(kaggle_corpus(tmp_path / "kaggle"), tmp_path)
    assert report["group_check"].startswith("vacuous") and "optimistic" in report["group_check"]


def test_a_split_with_speaker_ids_has_a_meaningful_check(tmp_path: Path, official_corpus: Path) -> None:
    report = data_report(official_corpus, tmp_path)
    assert report["group_check"].startswith("meaningful: 12 speakers")


def test_training_order_depends_on_seed_and_epoch_only() -> None:
    from voxray.data.samplers import EpochShuffle

    a, b = EpochShuffle(50, seed=3), EpochShuffle(50, seed=3)
    first = list(a)
    a.set_epoch(1)
    list(a)  # what happened before does not matter: only (seed, epoch)
    b.set_epoch(1)
    assert list(a) == list(b) != first
    a.set_epoch(0)
    assert list(a) == first and sorted(first) == list(range(50))


def test_an_evaluation_class_of_few_speakers_is_a_warning(tmp_path: Path, official_corpus: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Six speakers per gender leave one per class in validation: its speaker-level UAR is 0, 0.5 or 1."""
    with caplog.at_level(logging.WARNING):
        report = data_report(official_corpus, tmp_path)
    assert report["speakers_per_class"]["val"] == {"female": 1, "male": 1}
    assert sum(report["speakers_per_class"][s]["female"] for s in ("train", "val", "test")) == 6
    assert "fewer than 5 speakers" in report["few_speakers"] and "val female: 1" in report["few_speakers"]
    assert report["few_speakers"] in caplog.text
