"""A cache of the earlier layout becomes the store without decoding again; `verify` finds changed files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate

import voxray.data.voice.datamodule as voice
from tests.helpers.config import compose_cfg
from tests.helpers.voices import make_official_corpus
from voxray.data.cache import cache_key
from voxray.data.store import files_key, prepare_store
from voxray.data.store.migrate import ABSOLUTE_FORMAT, _stat, legacy_cache
from voxray.data.store.plan import plan_files
from voxray.errors import UserError


def write_earlier_cache(folder: Path, prepared) -> None:
    """What the earlier `prepare_array` left in a complete cache folder."""
    folder.mkdir(parents=True)
    np.save(folder / "data.npy", prepared.data[:])
    prepared.index.to_json(folder / "index.jsonl", orient="records", lines=True)
    prepared.skipped.to_csv(folder / "skipped.csv", index=False)
    (folder / "complete.json").write_text(json.dumps({"rows": len(prepared.data)}))


def test_an_earlier_cache_is_converted_once_and_nothing_is_decoded(tmp_path: Path, monkeypatch, caplog) -> None:
    root = make_official_corpus(tmp_path / "cv")
    overrides = [f"data.root={root}", "data.num_workers=0", "data.prepare_workers=0", "data.clean.denoise=false"]
    fresh = instantiate(compose_cfg("train", tmp_path / "run", tmp_path / "fresh", overrides).data)
    reference = fresh.prepare_store()
    dm = instantiate(compose_cfg("train", tmp_path / "run", tmp_path / "cache", overrides).data)
    plan = dm._get_plan()
    assert legacy_cache(dm.cache_dir, plan_files(plan), plan.key_parts, plan.shape, plan.dtype) is None
    key = cache_key([(p, *_stat(p)) for p in plan_files(plan)], plan.key_parts, plan.shape, plan.dtype)
    write_earlier_cache(tmp_path / "cache" / "prepared" / key, reference)
    monkeypatch.setattr(voice, "load_clip", lambda *a, **k: pytest.fail("decoded again"))
    dm._plan = None  # plan again with the failing loader
    with caplog.at_level("INFO"):
        converted = dm.prepare_store()
    assert "converting the cache" in caplog.text and "no file is decoded again" in caplog.text
    np.testing.assert_array_equal(converted.data[:], reference.data[:])
    pd.testing.assert_frame_equal(converted.index, reference.index)
    pd.testing.assert_frame_equal(converted.skipped, reference.skipped)


def test_verify_names_a_file_changed_since_it_was_prepared(tmp_path: Path) -> None:
    root = make_official_corpus(tmp_path / "cv")
    overrides = [f"data.root={root}", "data.num_workers=0", "data.prepare_workers=0", "data.clean.denoise=false",
                 "data.verify=true"]
    instantiate(compose_cfg("train", tmp_path / "run", tmp_path / "cache", overrides).data).setup("fit")
    clip = sorted((root / "clips").iterdir())[0]
    clip.write_bytes(clip.read_bytes() + b"\0")
    dm = instantiate(compose_cfg("train", tmp_path / "run", tmp_path / "cache", overrides).data)
    with pytest.raises(UserError, match=rf"1 of \d+ prepared files differ from the store .*{clip.name} \(size or time"):
        dm.setup("fit")


def test_a_store_of_the_format_before_is_converted_once_and_nothing_is_decoded(tmp_path: Path, monkeypatch,
                                                                                caplog) -> None:
    root = make_official_corpus(tmp_path / "cv")
    overrides = [f"data.root={root}", "data.num_workers=0", "data.prepare_workers=0", "data.clean.denoise=false"]
    reference = instantiate(compose_cfg("train", tmp_path / "run", tmp_path / "fresh", overrides).data).prepare_store()
    dm = instantiate(compose_cfg("train", tmp_path / "run", tmp_path / "cache", overrides).data)
    plan = dm._get_plan()
    files = plan_files(plan)
    earlier = tmp_path / "cache" / "prepared" / cache_key(files_key(files), plan.key_parts, plan.shape, plan.dtype,
                                                          ABSOLUTE_FORMAT)
    prepare_store(pd.DataFrame({"path": files}), plan.load, plan.shape, plan.dtype, earlier, num_workers=0)
    for name in ("plan.json", "store.json"):  # what the format before wrote: absolute paths, no root
        summary = json.loads((earlier / name).read_text())
        summary.pop("root", None)
        (earlier / name).write_text(json.dumps({**summary, "format": ABSOLUTE_FORMAT}))
    assert pd.read_parquet(earlier / "manifest.parquet")["path"].str.startswith(str(root)).all()
    monkeypatch.setattr(voice, "load_clip", lambda *a, **k: pytest.fail("decoded again"))
    dm._plan = None  # plan again with the failing loader
    with caplog.at_level("INFO"):
        converted = dm.prepare_store()
    assert "converting the store" in caplog.text and "no file is decoded again" in caplog.text
    assert converted.folder.name == reference.folder.name, "the store this format's key names"
    np.testing.assert_array_equal(converted.data[:], reference.data[:])
    pd.testing.assert_frame_equal(converted.index, reference.index)
    pd.testing.assert_frame_equal(converted.skipped, reference.skipped)
    chunk = next(converted.folder.glob("chunk-*.bin"))
    assert chunk.samefile(earlier / chunk.name), "the chunk files are linked, not copied"
