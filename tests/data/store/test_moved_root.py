"""A store keeps its paths relative to the data root: a moved or remounted root finds it again."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from hydra.utils import instantiate

import voxray.data.voice.datamodule as voice
from tests.helpers.config import compose_cfg
from tests.helpers.prepare import LENGTH, wave_row, write_clips
from tests.helpers.served import assert_same_splits
from tests.helpers.voices import make_official_corpus
from voxray.data.store import files_key, open_store, prepare_store
from voxray.data.store.verify import verify_store
from voxray.errors import UserError

SETTINGS = ["data.num_workers=0", "data.prepare_workers=0", "data.clean.denoise=false"]


def _setup(tmp_path: Path, run: str, root: Path, *extra: str):
    overrides = [f"data.root={root}", *SETTINGS, *extra]
    dm = instantiate(compose_cfg("train", tmp_path / run, tmp_path / "cache", overrides).data)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_a_moved_data_root_finds_its_store_and_serves_the_same_rows(tmp_path: Path, monkeypatch) -> None:
    root = make_official_corpus(tmp_path / "cv")
    (root / "clips" / "common_voice_en_00004.mp3").write_bytes(b"")  # skipped
    first = _setup(tmp_path, "first", root)
    moved = root.rename(tmp_path / "mounted elsewhere")
    monkeypatch.setattr(voice, "load_clip", lambda *a, **k: pytest.fail("a file was decoded again"))
    second = _setup(tmp_path, "second", moved, "data.verify=true")  # the files, checked under the moved root
    assert second.store_folder() == first.store_folder()
    assert_same_splits(first, second)
    assert second.table["path"].tolist() == [p.replace(str(root), str(moved)) for p in first.table["path"]]
    assert all(Path(p).is_file() for p in second.table["path"])
    manifest = pd.read_parquet(first.store_folder() / "manifest.parquet")
    assert manifest["path"].str.startswith("clips/").all(), "paths relative to the data root"
    assert second.planned().root == moved
    skipped = pd.read_csv(tmp_path / "second" / "skipped.csv")  # the run folder's copy: paths to open
    assert skipped["path"].tolist() == [str(moved / "clips" / "common_voice_en_00004.mp3")]


def _store(tmp_path: Path):
    table = write_clips(tmp_path / "data" / "clips", 6)
    prepared = prepare_store(table, wave_row, (LENGTH,), "int16", tmp_path / "store", num_workers=0,
                             root=tmp_path / "data")
    return table, prepared


@pytest.mark.parametrize("listed", ["../elsewhere/clip.wav", "/etc/passwd", "clips/../../x.wav"])
def test_a_manifest_path_leaving_the_root_is_refused_naming_it(tmp_path: Path, listed: str) -> None:
    table, prepared = _store(tmp_path)
    assert prepared.index["path"].tolist() == [p for p in table["path"] if Path(p).stat().st_size]
    manifest_file = tmp_path / "store" / "manifest.parquet"
    manifest = pd.read_parquet(manifest_file)
    manifest.loc[0, "path"] = listed
    manifest.to_parquet(manifest_file, index=False)
    summary = json.loads((tmp_path / "store" / "store.json").read_text())
    (tmp_path / "store" / "store.json").write_text(json.dumps({**summary, "files_key": files_key(manifest["path"])}))
    says = rf"manifest.parquet lists the path '{re.escape(listed)}', which leaves the data root"
    for check in (lambda: open_store(tmp_path / "store", tmp_path / "data"), lambda: verify_store(tmp_path / "store")):
        with pytest.raises(UserError, match=says) as refused:
            check()
        assert "\n" not in str(refused.value)


def test_a_file_outside_the_root_is_refused_before_preparing(tmp_path: Path) -> None:
    table = write_clips(tmp_path / "data" / "clips", 2)
    table.loc[1, "path"] = str(tmp_path / "other" / "clip.wav")
    with pytest.raises(UserError, match=rf"{re.escape(str(tmp_path / 'other' / 'clip.wav'))} is not a plain path "
                                        rf"inside the data root {re.escape(str(tmp_path / 'data'))}"):
        prepare_store(table, wave_row, (LENGTH,), "int16", tmp_path / "store", num_workers=0, root=tmp_path / "data")
    assert not (tmp_path / "store").exists()
