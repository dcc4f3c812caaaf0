"""Joint age + gender labels: a clip is kept when any label is usable; the split is speaker-disjoint
and puts the speakers with an age where an age-only run puts them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate

from tests.helpers.config import compose_cfg
from tests.helpers.voices import make_joint_corpus
from voxray.data.voice.commonvoice import apply_label_maps


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_joint_corpus(tmp_path_factory.mktemp("cv"))


def test_a_clip_is_kept_when_any_task_has_its_label() -> None:
    table = pd.DataFrame({"age": ["twenties", "", "seventies", ""], "gender": ["male", "female", "other", ""]})
    maps = {"age": ({"twenties": "twenties", "seventies": "sixties+"}, ["twenties", "sixties+"]),
            "gender": ({"female": "female", "male": "male"}, ["female", "male"])}
    out, report = apply_label_maps(table, maps)
    assert out["label/age"].tolist() == [0, -1, 1] and out["label/gender"].tolist() == [1, 0, -1]
    assert out["label_name"].tolist() == ["twenties|male", "?|female", "sixties+|?"]
    assert report == {"kept": 3, "excluded": {"age=blank, gender=blank": 1}, "labelled": {"age": 2, "gender": 2},
                      "missing": {"age": {"blank": 1}, "gender": {"other": 1}}}


def data(corpus: Path, tmp_path: Path, target: str) -> tuple[object, dict]:
    cfg = compose_cfg("train", tmp_path / target, tmp_path / "cache",
                      [f"experiment={target}", f"data.root={corpus}", "data.num_workers=0", "data.clean.denoise=false",
                       "data.val_fraction=0.25", "data.test_fraction=0.25"])
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    return datamodule, json.loads((tmp_path / target / "data_report.json").read_text())


def test_blank_age_clips_train_gender_in_the_joint_run_and_are_left_out_of_the_age_run(
    corpus: Path, tmp_path: Path
) -> None:
    joint, report = data(corpus, tmp_path, "voice_age_gender")
    assert report["kept"] == 32 + 12 + 1 and report["excluded"] == {"age=blank, gender=blank": 1}
    assert report["labelled"] == {"age": 33, "gender": 44}
    assert report["missing"] == {"age": {"blank": 12}, "gender": {"do_not_wish_to_say": 1}}
    assert sum(report["rows"].values()) == 45
    for split, dataset in joint.datasets.items():
        part = joint.table[joint.table["split"] == split]
        assert np.array_equal(dataset.labels, part[["label/age", "label/gender"]].to_numpy())
    # class weights come from each task's own labelled training rows
    counts = joint.class_counts("train")
    train = joint.table[joint.table["split"] == "train"]
    assert counts["gender"].sum() == (train["label/gender"] >= 0).sum() and len(counts["age"]) == 6
    assert counts["age"].sum() == (train["label/age"] >= 0).sum() < len(train)
    assert sum(report["per_class_of_task"]["gender"][s].get("female", 0) for s in report["rows"]) == 22
    # speaker-disjoint; the speakers without an age, split by gender, reach every part too
    assert joint.table.groupby("group")["split"].nunique().max() == 1
    for split in ("train", "val", "test"):
        part = joint.table[joint.table["split"] == split]
        assert (part["label/age"] >= 0).any() and (part["label/age"] < 0).any(), split

    age, age_report = data(corpus, tmp_path, "voice_mel")
    assert age_report["kept"] == 33 and age_report["excluded"] == {"blank": 13}
    assert set(age.table["path"]) == set(joint.table.loc[joint.table["label/age"] >= 0, "path"])
    assert np.asarray(age.datasets["train"].labels).ndim == 1
    # the speakers with an age sit in the same parts in both runs: age is tested on the same clips
    with_age = joint.table[joint.table["label/age"] >= 0]
    pd.testing.assert_series_equal(with_age.set_index("path")["split"].sort_index(),
                                   age.table.set_index("path")["split"].sort_index())
