"""The store's random-access rows are litdata's items; a damaged store is refused with the file named."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from litdata import StreamingDataset

import voxray.data.store.parts as parts
from tests.helpers.prepare import LENGTH, prepare, wave_row, write_clips
from voxray.data.dataset import ArrayDataset, as_batch
from voxray.data.samplers import EpochLoader, EpochShuffle
from voxray.data.store import ShardError, complete, open_store
from voxray.errors import UserError


@pytest.fixture
def store(tmp_path: Path, monkeypatch) -> tuple[pd.DataFrame, Path]:
    monkeypatch.setattr(parts, "CHUNK_BYTES", 3 * (LENGTH * 2 + 4))  # a few rows per chunk file
    table = write_clips(tmp_path / "clips", 20)  # 5 parts of 4, two empty files
    prepare(table, tmp_path / "store")
    return table, tmp_path / "store"


def test_every_row_is_the_loaders_output_and_litdatas_item(store: tuple[pd.DataFrame, Path]) -> None:
    table, folder = store
    prepared = open_store(folder)
    assert len(list(folder.glob("chunk-*.bin"))) > 5, "a part in more than one chunk file"
    kept = [p for p in table["path"] if Path(p).stat().st_size]
    assert prepared.index["path"].tolist() == kept and len(prepared.data) == 18
    expected = np.stack([wave_row(p)[0] for p in kept])
    np.testing.assert_array_equal(prepared.data[np.arange(18)], expected)  # one batch across chunks
    np.testing.assert_array_equal(prepared.data[[17, 0, 5, 5]], expected[[17, 0, 5, 5]])
    np.testing.assert_array_equal(prepared.data[-1], expected[-1])
    streamed = StreamingDataset(str(folder))
    assert len(streamed) == 18
    for i in range(18):
        np.testing.assert_array_equal(streamed[i], expected[i])
    assert prepared.index["samples"].dtype == np.int64, "an int column stays int beside the skipped rows"
    assert prepared.index["samples"].tolist() == [wave_row(p)[1]["samples"] for p in kept]


def test_rows_travel_to_a_spawned_worker_without_their_mapped_pages(store: tuple[pd.DataFrame, Path]) -> None:
    rows = open_store(store[1]).data
    first = rows[0]
    copy = pickle.loads(pickle.dumps(rows))
    assert copy._maps == {} and len(pickle.dumps(rows)) < 10_000
    np.testing.assert_array_equal(copy[0], first)


def test_a_truncated_chunk_is_named_and_nothing_is_deleted(store: tuple[pd.DataFrame, Path]) -> None:
    folder = store[1]
    chunk = folder / "chunk-2-0.bin"
    chunk.write_bytes(chunk.read_bytes()[:-100])
    before = sorted(folder.rglob("*"))
    with pytest.raises(ShardError, match=r"store chunk .*chunk-2-0.bin has \d+ bytes, its index says \d+"):
        open_store(folder)
    assert sorted(folder.rglob("*")) == before


def test_a_chunk_of_another_layout_is_refused(store: tuple[pd.DataFrame, Path]) -> None:
    folder = store[1]
    chunk = folder / "chunk-1-0.bin"
    data = bytearray(chunk.read_bytes())
    data[4:8] = (999).to_bytes(4, "little")  # the first row's offset
    chunk.write_bytes(bytes(data))
    with pytest.raises(ShardError, match=r"chunk-1-0.bin is not \d rows of \(4000,\) int16"):
        open_store(folder)


def test_a_manifest_from_another_store_is_refused(tmp_path: Path, store: tuple[pd.DataFrame, Path]) -> None:
    table, folder = store
    other = prepare(table.iloc[:8], tmp_path / "other").folder
    (folder / "manifest.parquet").write_bytes((other / "manifest.parquet").read_bytes())
    with pytest.raises(ShardError, match=r"manifest.parquet lists other files than .*store.json"):
        open_store(folder)


def test_completing_a_store_with_a_missing_part_names_it(tmp_path: Path) -> None:
    table = write_clips(tmp_path / "clips", 12)  # 3 parts
    assert prepare(table, tmp_path / "store", task=(0, 3)) is None
    assert prepare(table, tmp_path / "store", task=(2, 3)) is None
    with pytest.raises(UserError, match=r"lacks part 1 \(00001.parquet is missing\)"):
        complete(tmp_path / "store")
    assert prepare(table, tmp_path / "store", task=(1, 3)) is not None, "the last task completes it"


def test_training_batches_from_the_store_equal_those_from_a_memmapped_array(store, tmp_path: Path) -> None:
    rows = open_store(store[1]).data
    np.save(tmp_path / "data.npy", rows[:])  # the earlier layout: one .npy array of the same rows
    memmap = np.load(tmp_path / "data.npy", mmap_mode="r")
    picked = np.array([3, 17, 0, 9, 12, 5, 1, 14, 8, 2])
    labels, groups = np.arange(10) % 2, np.arange(10).astype(str)

    def batches(data) -> list:
        loader = EpochLoader(ArrayDataset(data, picked, labels, groups), batch_size=4, collate_fn=as_batch,
                             sampler=EpochShuffle(10, seed=3))
        loader.sampler.set_epoch(2)
        return [[t.numpy() for t in batch] for batch in loader]

    for a, b in zip(batches(rows), batches(memmap), strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
