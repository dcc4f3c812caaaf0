"""A second start reads the saved plan: no table read, and exactly the rows, labels and report of the first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hydra.utils import instantiate

import voxray.data.voice.datamodule as voice
from tests.helpers.config import compose_cfg
from tests.helpers.served import assert_same_splits
from tests.helpers.voices import make_joint_corpus
from voxray.data.store.build import STORE_FORMAT
from voxray.data.store.migrate import ABSOLUTE_FORMAT
from voxray.data.store.planned import PlannedRows, load_planned, save_planned


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
    assert_same_splits(first, second)
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


def test_the_saved_rows_are_read_as_saved_mostly_outside_arrows_default_pool(tmp_path: Path) -> None:
    """mimalloc, Arrow's default allocator, keeps a read's arenas, where pandas cannot reuse them."""
    store, n = tmp_path / "store", 100_000
    store.mkdir()
    (store / "store.json").write_text(json.dumps({"format": STORE_FORMAT}))
    i = np.arange(n)
    table = pd.DataFrame({"path": [f"/data/clips/{k}.mp3" for k in i], "group": [f"s{k % 7}" for k in i],
                          "split": np.array(["train", "val", "test"])[i % 3], "label/age": i % 3 - 1,
                          "duration_s": np.linspace(0.5, 3.0, n), "row": i})
    save_planned(tmp_path / "cache", "k", PlannedRows(table, {"rows": n}, "speaker", store, 2))
    pool = pa.default_memory_pool()
    before = pool.total_bytes_allocated()
    loaded = load_planned(tmp_path / "cache", "k")
    in_pool = pool.total_bytes_allocated() - before
    saved = pd.read_parquet(tmp_path / "cache" / "plans" / "k.parquet")
    in_pool_by_pandas = pool.total_bytes_allocated() - before - in_pool
    assert in_pool < in_pool_by_pandas / 4, "the read's buffers came from Arrow's default pool"
    saved["path"] = saved["path"].astype("string[pyarrow]")
    pd.testing.assert_frame_equal(loaded.table, saved, check_exact=True)
    assert loaded.table["group"].cat.categories.dtype == saved["group"].cat.categories.dtype
    assert (loaded.report, loaded.group_name, loaded.folder, loaded.skipped) == ({"rows": n}, "speaker", store, 2)


def test_saved_rows_of_a_store_of_the_format_before_are_planned_again(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "store.json").write_text(json.dumps({"format": ABSOLUTE_FORMAT}))
    save_planned(tmp_path / "cache", "k", PlannedRows(pd.DataFrame({"path": ["/a.mp3"], "row": [0]}), {}, "speaker",
                                                      store, 0))
    assert load_planned(tmp_path / "cache", "k") is None
