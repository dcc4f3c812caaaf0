"""Only a file's own problems are skips; other failures stop the run and are retried next time."""

from __future__ import annotations

import errno
import json
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import voxray.data.cache as cache
import voxray.data.store.parts as parts
import voxray.data.voice.audio as audio
from tests.helpers.prepare import LENGTH, flaky_row, wave_row, write_clips
from voxray.data.cache import SkipFile, TooManySkippedError
from voxray.data.store import prepare_store
from voxray.data.voice.audio import CleanParams, load_clip
from voxray.data.xray.images import XrayDecodeError


def _prepare(table: pd.DataFrame, folder: Path, **kwargs) -> cache.PreparedArray:
    return prepare_store(table, wave_row, (LENGTH,), "int16", folder, num_workers=0, **kwargs)


def test_both_decode_errors_are_skips() -> None:
    assert issubclass(XrayDecodeError, SkipFile) and issubclass(XrayDecodeError, ValueError)


@pytest.mark.parametrize("num_workers", [0, 1])
@pytest.mark.parametrize(("failure", "kind"), [("eio", OSError), ("memory", MemoryError),
                                               ("bug", ZeroDivisionError)])
def test_a_failure_that_is_not_a_skip_stops_the_run_and_is_retried(
    tmp_path: Path, failure: str, kind: type, num_workers: int
) -> None:
    table = write_clips(tmp_path / "clips", 12)
    flaky = tmp_path / "clips" / "flaky.wav"
    (tmp_path / "clips" / "clip000.wav").rename(flaky)
    table.loc[0, "path"] = str(flaky)
    load = partial(flaky_row, failure=failure)
    with pytest.raises(kind) as caught:
        prepare_store(table, load, (LENGTH,), "int16", tmp_path / "c", num_workers, part_size=4)
    assert any(str(flaky) in note for note in caught.value.__notes__), "the file is named"
    assert not (tmp_path / "c" / "store.json").exists(), "nothing frozen into the store"
    Path(f"{flaky}.healed").touch()  # the mount recovered / the bug was fixed
    out = prepare_store(table, load, (LENGTH,), "int16", tmp_path / "c", num_workers, part_size=4)
    assert out.index["path"].iloc[0] == str(flaky), "retried, and prepared this time"
    assert str(flaky) not in set(out.skipped["path"])


def test_a_loader_returning_the_wrong_shape_is_a_bug_not_a_skip(tmp_path: Path) -> None:
    table = write_clips(tmp_path / "clips", 3)
    wrong = r"returned shape \(4000,\) for .*clip000.wav, expected \(10,\)"
    with pytest.raises(ValueError, match=wrong):
        prepare_store(table, wave_row, (10,), "int16", tmp_path / "c", num_workers=0)


def test_an_io_error_behind_a_decoder_error_stops_the_run(tmp_path: Path, monkeypatch) -> None:
    # libsndfile reports a failed read as a decode error; reading the file again shows the truth
    path = tmp_path / "a.wav"
    path.write_text("not audio")

    def failing_open(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(audio, "open", failing_open, raising=False)
    with pytest.raises(OSError, match="Input/output error"):
        load_clip(str(path), CleanParams(denoise=False))
    monkeypatch.undo()
    with pytest.raises(SkipFile, match="not decodable as audio: Format not recognised"):
        load_clip(str(path), CleanParams(denoise=False))


def test_too_many_skips_raise_after_the_cache_is_complete(tmp_path: Path, monkeypatch) -> None:
    table = write_clips(tmp_path / "clips", 20)  # clip007 and clip017 are empty: 10% skipped
    folder = tmp_path / "c"
    message = r"2 of 20 files \(10.0%\) were skipped, more than max_skip_fraction=0.05"
    with pytest.raises(TooManySkippedError, match=message) as caught:
        _prepare(table, folder, max_skip_fraction=0.05)
    assert isinstance(caught.value, ValueError) and str(folder / "skipped.csv") in str(caught.value)
    assert (folder / "store.json").exists()
    monkeypatch.setattr(parts, "load_files", lambda *a: pytest.fail("prepared again"))
    with pytest.raises(TooManySkippedError):  # the same limit fails again, without the work
        _prepare(table, folder, max_skip_fraction=0.05)
    out = _prepare(table, folder, max_skip_fraction=0.1)  # 10% is not more than 10%
    assert len(out.data) == 18 and len(out.skipped) == 2


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_a_skip_fraction_outside_0_1_is_refused_before_any_work(tmp_path: Path, bad: float) -> None:
    with pytest.raises(ValueError, match=r"max_skip_fraction must be in \[0, 1\]"):
        _prepare(pd.DataFrame({"path": ["x"]}), tmp_path / "c", max_skip_fraction=bad)
    assert not (tmp_path / "c").exists()


def test_every_file_skipped_still_gives_an_index_with_columns(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"")
    out = _prepare(pd.DataFrame({"path": [str(tmp_path / "a.wav")]}), tmp_path / "c")
    assert out.data.shape == (0, LENGTH) and list(out.index.columns) == ["path"]
    assert out.skipped["reason"].tolist() == ["empty file (0 bytes)"]


def test_parts_of_another_part_size_are_refused_and_kept(tmp_path: Path, monkeypatch) -> None:
    table = write_clips(tmp_path / "clips", 10)
    folder = tmp_path / "c"
    calls = []

    def stop_after_two(load, paths, shape, dtype):
        calls.append(paths)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(load, paths, shape, dtype)

    real = parts.load_files
    monkeypatch.setattr(parts, "load_files", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        _prepare(table, folder, part_size=4)
    monkeypatch.undo()
    done = sorted(p.name for p in (folder / "parts").iterdir())
    assert json.loads((folder / "plan.json").read_text())["part_size"] == 4
    planned_other = r"plan.json was planned with other part_size, parts \(\[4, 3\] there, \[3, 4\] now\)"
    with pytest.raises(cache.UserError, match=planned_other):
        _prepare(table, folder, part_size=3)
    assert sorted(p.name for p in (folder / "parts").iterdir()) == done, "nothing deleted"
    out = _prepare(table, folder, part_size=4)
    reference = _prepare(table, tmp_path / "r", part_size=4)
    np.testing.assert_array_equal(out.data[:], reference.data[:])
    assert out.index.equals(reference.index)
