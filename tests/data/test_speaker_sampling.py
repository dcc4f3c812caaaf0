"""Evening out prolific speakers: the per-speaker cap, the balanced sampler, the report's numbers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate
from lightning.fabric.utilities.distributed import DistributedSamplerWrapper

from tests.helpers.config import compose_cfg
from voxray.data.datamodule import ArrayDataModule
from voxray.data.samplers import BalancedSpeakers, EpochShuffle, capped_rows
from voxray.data.summary import group_sizes


def skewed_table() -> pd.DataFrame:
    """Train: speaker "big" with 50 clips, "small" with 2, "mid" with 6; val: "held" with 20."""
    rows = [("train", "big", 50), ("train", "small", 2), ("train", "mid", 6), ("val", "held", 20)]
    return pd.DataFrame(
        [{"split": split, "group": group, "path": f"/data/clips/{group}_{i:03d}.mp3"}
         for split, group, n in rows for i in range(n)]
    )


def kept_paths(table: pd.DataFrame, cap: int, seed: int) -> set[str]:
    return set(table.loc[~capped_rows(table, cap, seed), "path"])


def test_the_cap_keeps_at_most_n_train_clips_per_speaker_and_never_touches_val() -> None:
    table = skewed_table()
    kept = table[~capped_rows(table, 5, seed=0)]
    assert kept.groupby("group").size().to_dict() == {"big": 5, "small": 2, "mid": 5, "held": 20}
    assert not capped_rows(table, None).any()


def test_which_clips_the_cap_keeps_depends_on_the_seed_only() -> None:
    table = skewed_table()
    assert kept_paths(table, 5, seed=1) == kept_paths(table, 5, seed=1)
    assert kept_paths(table, 5, seed=1) != kept_paths(table, 5, seed=2)
    first_five = {f"/data/clips/big_{i:03d}.mp3" for i in range(5)}
    assert not first_five <= kept_paths(table, 5, seed=1), "a seeded choice, not the first N"
    # not the row order, nor the folder: the same speaker keeps the same clips
    moved = table.iloc[::-1].assign(path=table["path"].iloc[::-1].str.replace("/data/", "/mnt/other/"))
    assert {p.replace("/mnt/other/", "/data/") for p in kept_paths(moved, 5, 1)} == kept_paths(table, 5, 1)


def draws_per_speaker(sampler: EpochShuffle | BalancedSpeakers, groups: np.ndarray, epochs: int) -> Counter:
    counts: Counter = Counter()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        counts.update(groups[list(sampler)])
    return counts


def test_balanced_sampler_draws_a_50_clip_and_a_2_clip_speaker_equally_often() -> None:
    groups = np.array(["big"] * 50 + ["small"] * 2)
    labels = np.zeros(len(groups), dtype=int)
    balanced = draws_per_speaker(BalancedSpeakers(labels, groups, seed=0), groups, epochs=100)
    assert sum(balanced.values()) == 100 * 52, "an epoch is as long as the train set"
    assert balanced["big"] / balanced["small"] == pytest.approx(1.0, abs=0.1)
    shuffled = draws_per_speaker(EpochShuffle(len(groups), seed=0), groups, epochs=100)
    assert shuffled["big"] / shuffled["small"] == 25


def test_balanced_sampler_keeps_the_class_shares_of_the_clips() -> None:
    # class 0: speakers with 50 and 2 clips; class 1: one speaker with 26 clips -> shares 2:1
    groups = np.array(["big"] * 50 + ["small"] * 2 + ["other"] * 26)
    labels = np.array([0] * 52 + [1] * 26)
    counts = draws_per_speaker(BalancedSpeakers(labels, groups, seed=0), groups, epochs=100)
    assert (counts["big"] + counts["small"]) / counts["other"] == pytest.approx(2.0, rel=0.1)
    assert counts["big"] / counts["small"] == pytest.approx(1.0, abs=0.1)


def test_balanced_order_depends_on_seed_and_epoch_only() -> None:
    groups = np.array([f"s{i % 7}" for i in range(40)])
    labels = np.arange(40) % 2
    a, b = BalancedSpeakers(labels, groups, seed=3), BalancedSpeakers(labels, groups, seed=3)
    first = list(a)
    a.set_epoch(1)
    list(a)
    b.set_epoch(1)
    assert list(a) == list(b) != first
    a.set_epoch(0)
    assert list(a) == first != list(BalancedSpeakers(labels, groups, seed=4))


def test_under_ddp_each_rank_takes_its_share_of_the_same_epoch_draw() -> None:
    groups = np.array([f"s{i % 5}" for i in range(40)])
    labels = np.zeros(40, dtype=int)
    inner = BalancedSpeakers(labels, groups, seed=0)
    inner.set_epoch(2)
    whole = sorted(inner)
    ranks = [DistributedSamplerWrapper(BalancedSpeakers(labels, groups, seed=0), num_replicas=2, rank=r,
                                       shuffle=False) for r in range(2)]
    for sampler in ranks:
        sampler.set_epoch(2)  # what Lightning calls; the wrapper forwards it
    assert sorted([i for sampler in ranks for i in sampler]) == whole


def test_group_sizes_on_a_constructed_table() -> None:
    # 200 speakers: two with 100 clips, the rest with 1..198 clips... kept simple: 198 with 2 clips
    groups = pd.Series(["a"] * 100 + ["b"] * 100 + [f"s{i}" for i in range(198) for _ in range(2)])
    sizes = group_sizes(groups, "speaker")
    assert sizes == {"speakers": 200, "min": 2, "median": 2.0, "max": 100,
                     "top_1pct_share": pytest.approx(200 / 596, abs=1e-4), "top_1pct_speakers": 2}
    few = group_sizes(pd.Series(["x"] * 3 + ["y"] * 1 + ["z"] * 2), "speaker")
    assert (few["top_1pct_speakers"], few["top_1pct_share"], few["median"]) == (1, 0.5, 2.0)
    assert group_sizes(pd.Series([], dtype=str), "speaker")["speakers"] == 0


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_a_cap_that_is_not_a_positive_integer_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="max_clips_per_speaker must be a positive integer or null"):
        ArrayDataModule(root=None, classes=["a"], cache_dir="unused", max_clips_per_speaker=bad)


def test_an_unknown_sampler_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"data.sampler must be one of \('shuffle', 'balanced_speakers'\)"):
        ArrayDataModule(root=None, classes=["a"], cache_dir="unused", sampler="random")


def test_the_voice_config_caps_train_only_reports_it_and_serves_balanced_batches(
    tmp_path: Path, official_corpus_module: Path
) -> None:
    cfg = compose_cfg("train", tmp_path / "run", tmp_path / "cache", [
        f"data.root={official_corpus_module}", "data.target=gender", "data.num_workers=0",
        "data.clean.denoise=false", "data.max_clips_per_speaker=2", "data.sampler=balanced_speakers"])
    dm = instantiate(cfg.data)
    dm.setup("fit")
    assert max(Counter(dm.datasets["train"].groups).values()) == 2  # every speaker has 3 clips
    assert set(Counter(dm.datasets["val"].groups).values()) == {3}
    assert set(Counter(dm.datasets["test"].groups).values()) == {3}
    report = json.loads((tmp_path / "run" / "data_report.json").read_text())
    train_speakers = report["speakers"]["train"]
    assert report["cap"] == {"max_clips_per_speaker": 2, "train_rows_removed": train_speakers,
                             "speakers_capped": train_speakers}
    assert report["rows_per_speaker"]["train"]["max"] == 2
    assert report["rows_per_speaker"]["val"]["max"] == 3
    assert isinstance(dm.train_dataloader().sampler, BalancedSpeakers)
