"""Streaming (`data.stream=true`): each split's copy, read through litdata from the cache folder or an
S3-compatible server, serves exactly the map-style split's rows, labels and positions."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

import voxray.data.store.stream as stream
import voxray.data.voice.datamodule as voice
from tests.helpers.config import compose_cfg
from tests.helpers.s3 import local_s3
from tests.helpers.voices import make_official_corpus
from voxray.data.datamodule import ArrayDataModule
from voxray.data.store import ShardError, open_rows
from voxray.errors import UserError

STREAM = ["data.clean.denoise=false", "data.prepare_workers=0", "data.num_workers=2", "data.batch_size=4",
          "data.stream=true"]


@pytest.fixture(scope="module")
def s3() -> dict:
    with local_s3() as server:
        yield server


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_official_corpus(tmp_path_factory.mktemp("cv"))


def datamodule(tmp: Path, root: Path, extra: list[str], prepare: bool = True):
    dm = instantiate(compose_cfg("train", tmp / "run", tmp / "cache", [f"data.root={root}", *STREAM, *extra]).data)
    if prepare:
        dm.prepare_data()
    dm.setup("fit")
    return dm


def batches(loader) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    xs, labels, positions = zip(*loader)
    return torch.cat(xs), torch.cat(labels), torch.cat(positions)


def where(s3: dict, remote: bool, prefix: str = "views") -> list[str]:
    if not remote:
        return []
    return [f"data.stream_uri={s3['uri']}/{prefix}",
            f"+data.stream_options.endpoint_url={s3['options']['endpoint_url']}"]


@pytest.mark.parametrize("remote", [False, True], ids=["cache folder", "s3 stand-in"])
def test_a_stream_serves_each_split_as_the_store_does(tmp_path: Path, root: Path, s3: dict, remote: bool) -> None:
    dm = datamodule(tmp_path, root, where(s3, remote))
    store = open_rows(dm.planned().folder)
    for split, loader in (("val", dm.val_dataloader()), ("test", dm.test_dataloader())):
        x, labels, positions = batches(loader)
        mapped = dm.datasets[split]
        assert sorted(positions.tolist()) == list(range(len(mapped))), f"{split}: every example exactly once"
        np.testing.assert_array_equal(x.numpy(), store[mapped.rows[positions.numpy()]])
        np.testing.assert_array_equal(labels.numpy(), mapped.labels[positions.numpy()])

    loader, n = dm.train_dataloader(), len(dm.datasets["train"])
    epochs = [batches(loader)[2].tolist() for _ in range(2)]
    for order in epochs:
        assert len(set(order)) == len(order) and set(order) <= set(range(n)), "no row twice in an epoch"
        assert len(order) >= n - 2 * 4, "at most one short batch per worker is dropped"
    assert epochs[0] != epochs[1], "each epoch is shuffled anew"
    again = datamodule(tmp_path / "again", root, where(s3, remote))
    assert batches(again.train_dataloader())[2].tolist() == epochs[0], "the order depends on (seed, epoch) only"


def test_a_node_without_the_split_copies_is_told_how_to_write_them(tmp_path: Path, root: Path, s3: dict) -> None:
    datamodule(tmp_path, root, [])  # the store, but no copies at this URI
    dm = datamodule(tmp_path, root, where(s3, True, "nothing-here"), prepare=False)
    with pytest.raises(UserError, match=r"no split views at s3://.*prepare.py data.stream=true"):
        dm.val_dataloader()


def test_a_stream_takes_no_sampler_that_needs_random_access() -> None:
    with pytest.raises(ValueError, match="data.stream=true .* data.sampler=balanced_speakers"):
        ArrayDataModule(root=None, classes=["a"], cache_dir="unused", sampler="balanced_speakers", stream=True)


def test_a_node_with_only_the_saved_plan_streams_from_object_storage(tmp_path: Path, s3: dict,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_official_corpus(tmp_path / "cv")  # its own: the clips are moved away below
    first = datamodule(tmp_path, root, where(s3, True, "shared"))  # prepares, writes and uploads the copies
    val = batches(first.val_dataloader())
    for local in ("prepared", "stream"):  # as on a node that never held the store
        shutil.rmtree(tmp_path / "cache" / local)
    clips = root.rename(tmp_path / "clips elsewhere")  # nor the clips: the tables only
    (root / "clips").mkdir(parents=True)
    for table in clips.glob("*.tsv"):
        shutil.copy2(table, root / table.name)
    monkeypatch.setattr(voice, "load_clip", lambda *a, **k: pytest.fail("a clip was prepared"))
    other = datamodule(tmp_path, root, where(s3, True, "shared"))  # prepare_data, as on every node
    x, labels, positions = batches(other.val_dataloader())
    order = np.argsort(positions.numpy())
    np.testing.assert_array_equal(x.numpy()[order], val[0].numpy()[np.argsort(val[2].numpy())])
    np.testing.assert_array_equal(labels.numpy()[order], other.datasets["val"].labels)


def test_a_training_stream_too_small_for_one_batch_says_so(tmp_path: Path, root: Path) -> None:
    dm = datamodule(tmp_path, root, ["data.batch_size=16"])  # 15 training clips
    with pytest.raises(UserError, match="the training stream gives this process no batch: 15 rows for batches of 16"):
        dm.train_dataloader()


def test_two_workers_from_object_storage_are_warned_of(tmp_path: Path, root: Path, s3: dict) -> None:
    dm = datamodule(tmp_path, root, where(s3, True))
    with pytest.warns(UserWarning, match="data.num_workers=2 from object storage"):
        dm.train_dataloader()


def test_a_truncated_copy_is_named_in_one_line_and_kept(tmp_path: Path, root: Path) -> None:
    datamodule(tmp_path, root, [])
    chunk = next((tmp_path / "cache" / "stream").glob("*/val/chunk-*.bin"))
    chunk.write_bytes(chunk.read_bytes()[:-10])
    dm = datamodule(tmp_path, root, [], prepare=False)
    named = f"split copy for streaming: store chunk {chunk} has .* bytes, its index says .*; delete .* to write it"
    with pytest.raises(ShardError, match=named):
        dm.val_dataloader()
    assert chunk.exists(), "nothing deleted"


def test_an_empty_split_is_refused_in_one_line(tmp_path: Path) -> None:
    from voxray.data.store.views import write_views

    with pytest.raises(UserError, match="data.stream=true: the test split has no rows to stream"):
        write_views(None, {"train": np.arange(3), "test": np.arange(0)}, tmp_path / "views")
    assert not (tmp_path / "views").exists()


def test_prepare_py_writes_and_uploads_the_copies_that_training_streams(tmp_path: Path, root: Path, s3: dict,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from voxray.prepare import prepare

    remote = where(s3, True, "prepared-by-prepare-py")
    prepare(compose_cfg("prepare", tmp_path / "prep", tmp_path / "cache", [f"data.root={root}", *STREAM, *remote]))
    monkeypatch.setattr(stream, "write_views", lambda *a: pytest.fail("training wrote the copies again"))
    dm = datamodule(tmp_path, root, remote)
    _, _, positions = batches(dm.test_dataloader())
    assert sorted(positions.tolist()) == list(range(len(dm.datasets["test"])))
