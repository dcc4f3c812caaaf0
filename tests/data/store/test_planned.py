"""A second start reads the saved plan: no table read, and exactly the rows, labels and report of the first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate

import voxray.data.voice.datamodule as voice
from tests.helpers.config import compose_cfg
from tests.helpers.voices import make_joint_corpus


def _setup(tmp_path: Path, run: str, overrides: list[str]):
    dm = instantiate(compose_cfg("train", tmp_path / run, tmp_path / "cache", overrides).data)
    dm.prepare_data()
    dm.setup("fit")
    return dm


@pytest.mark.parametrize("extra", [[], ["data.max_clips_per_speaker=1"], ["experiment=voice_age_gender"]])
def test_a_second_start_reads_the_saved_plan_and_serves_the_same_data(tmp_path: Path, monkeypatch, extra) -> None:
    root = make_joint_corpus(tmp_path / "cv")
    overrides = [*extra, f"data.root={root}", "data.num_workers=0", "data.prepare_workers=0",
                 "data.clean.denoise=false", "data.use_official_splits=false"]
    first = _setup(tmp_path, "first", overrides)
    monkeypatch.setattr(voice, "read_common_voice", lambda *a: pytest.fail("the tables were read again"))
    second = _setup(tmp_path, "second", overrides)
    for split in ("train", "val", "test"):
        a, b = first.datasets[split], second.datasets[split]
        np.testing.assert_array_equal(a.rows, b.rows)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.groups, b.groups)
        np.testing.assert_array_equal(a.data[a.rows], b.data[b.rows])
    assert first.table["path"].tolist() == second.table["path"].tolist()
    counts = [dm.class_counts() for dm in (first, second)]  # the class weights of the loss
    assert str(counts[0]) == str(counts[1])
    report = [json.loads((tmp_path / run / "data_report.json").read_text()) for run in ("first", "second")]
    assert report[0] == report[1]


def test_an_edited_table_is_planned_again(tmp_path: Path) -> None:
    root = make_joint_corpus(tmp_path / "cv")
    overrides = [f"data.root={root}", "data.num_workers=0", "data.prepare_workers=0", "data.clean.denoise=false"]
    first = _setup(tmp_path, "first", overrides)
    for tsv in root.glob("*.tsv"):
        tsv.write_text(tsv.read_text().replace("twenties", "thirties"))
    second = _setup(tmp_path, "second", overrides)
    assert (second.table["label_name"] == "twenties").sum() == 0 < (first.table["label_name"] == "twenties").sum()
