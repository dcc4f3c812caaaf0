from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import voxray.data.store.parts as parts
from tests.helpers.voices import tone
from voxray.data.store import prepare_store
from voxray.data.voice.audio import CleanParams, load_clip

PARAMS = CleanParams(denoise=False)


def clip_folder(tmp_path: Path) -> pd.DataFrame:
    """Good clips in several formats/rates/channel counts, plus a corrupt and an empty one."""
    d = tmp_path / "clips"
    d.mkdir()
    x = tone(200.0, seconds=1.0)
    sf.write(d / "a.mp3", x, 16000, format="MP3")
    sf.write(d / "b.wav", np.stack([x, x], axis=1), 16000)  # stereo
    sf.write(d / "c.flac", tone(150.0, seconds=4.0, sr=44100), 44100)  # longer than 3 s, 44.1 kHz
    sf.write(d / "d.ogg", x, 16000, format="OGG")
    (d / "corrupt.mp3").write_bytes(b"ID3\x03\x00garbage" * 20)
    sf.write(d / "empty.wav", np.zeros(0, np.float32), 16000)
    sf.write(d / "silent.wav", np.zeros(16000, np.float32), 16000)
    return pd.DataFrame({"path": [str(d / n) for n in sorted(p.name for p in d.iterdir())]})


def test_bad_files_are_skipped_and_listed(tmp_path: Path) -> None:
    table = clip_folder(tmp_path)
    out = prepare_store(table, partial(load_clip, params=PARAMS), (48000,), "int16", tmp_path / "c", num_workers=0)
    assert out.data.shape == (4, 48000) and out.data.dtype == np.int16
    assert [Path(p).name for p in out.index["path"]] == ["a.mp3", "b.wav", "c.flac", "d.ogg"]
    reasons = dict(zip(out.skipped["path"].map(lambda p: Path(p).name), out.skipped["reason"]))
    assert set(reasons) == {"corrupt.mp3", "empty.wav", "silent.wav"}
    assert reasons == {
        "corrupt.mp3": "not decodable as audio: no complete MPEG audio frame found",
        "empty.wav": "not decodable as audio: it holds no audio samples",
        "silent.wav": "silent: every sample is 0",
    }
    assert (tmp_path / "c" / "skipped.csv").read_text().count("\n") == 4  # header + 3
    durations = out.index.set_index(out.index["path"].map(lambda p: Path(p).name))["duration_s"]
    assert 0.9 < durations["a.mp3"] < 1.3 and durations["c.flac"] > 3.5  # trimmed, before padding
    assert np.abs(out.data[0, 24000:]).max() == 0  # 1 s of speech, zero-padded


def test_second_run_reads_the_cache_without_decoding(tmp_path: Path, monkeypatch) -> None:
    table = clip_folder(tmp_path)
    load = partial(load_clip, params=PARAMS)
    first = prepare_store(table, load, (48000,), "int16", tmp_path / "c", num_workers=2)
    monkeypatch.setattr(parts, "load_files", lambda *a: pytest.fail("decoded again"))
    second = prepare_store(table, load, (48000,), "int16", tmp_path / "c", num_workers=0)
    np.testing.assert_array_equal(first.data, second.data)
    assert second.index.equals(first.index)


def square(path: str) -> np.ndarray:
    return np.full((2,), int(Path(path).stem), dtype=np.int32)


def test_interrupted_preparation_resumes(tmp_path: Path, monkeypatch) -> None:
    table = pd.DataFrame({"path": [f"{i}.x" for i in range(10)]})
    real, calls = parts.load_files, []

    def interrupt_third(load, paths, shape, dtype):
        calls.append(paths[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(load, paths, shape, dtype)

    monkeypatch.setattr(parts, "load_files", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        prepare_store(table, square, (2,), "int32", tmp_path / "c", num_workers=0, part_size=4)
    assert not (tmp_path / "c" / "store.json").exists()
    calls.clear()
    monkeypatch.setattr(parts, "load_files", lambda *a: (calls.append(a[1][0]), real(*a))[1])
    out = prepare_store(table, square, (2,), "int32", tmp_path / "c", num_workers=0, part_size=4)
    assert calls == ["8.x"], "only the unfinished part is redone"
    assert out.data[:, 0].tolist() == list(range(10))
    assert not list((tmp_path / "c").glob("**/.*~*")), "no temporary files left behind"


def test_a_part_larger_than_a_chunk_keeps_every_chunk_file(tmp_path: Path, monkeypatch) -> None:
    """A real part (2048 clips of 96 KB) spans several 64-MB chunk files, written while the part is
    still being prepared; here 100 rows of 4 KB with 32 files per task and 16-KB chunks."""
    monkeypatch.setattr(parts, "CHUNK_BYTES", 16_000)
    table = pd.DataFrame({"path": [f"{i}.x" for i in range(100)]})
    wide = partial(_wide, width=1000)
    out = prepare_store(table, wide, (1000,), "int32", tmp_path / "c", num_workers=0, part_size=100)
    assert len(list((tmp_path / "c").glob("chunk-0-*.bin"))) > 3
    assert out.data[:, 0].tolist() == list(range(100)) and (out.data[:, -1] == np.arange(100)).all()


def _wide(path: str, width: int) -> np.ndarray:
    return np.full((width,), int(Path(path).stem), dtype=np.int32)
