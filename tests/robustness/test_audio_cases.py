"""Every odd audio file ends as a cache row or as a skip with a true, specific reason."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tests.helpers.voices import tone
from voxray.data.cache import PreparedArray
from voxray.data.store import prepare_store
from voxray.data.voice.audio import CleanParams, load_clip

PARAMS = CleanParams()  # the defaults, denoising included, as a real run prepares
PEAK = round(0.89 * 32767)  # to_int16 normalises every clip to this peak
CLIP = tone(180.0, seconds=1.0)  # 1.8 s: 0.4 s lead, 1 s voiced, 0.4 s tail, at 16 kHz
NOT_MPEG = "not decodable as audio: no complete MPEG audio frame found"


def _wav(signal: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> Callable[[Path], None]:
    return lambda path: sf.write(path, signal, rate, subtype=subtype)


def _mp3_bytes(keep: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        sf.write(path, CLIP, 16000, format="MP3")
        path.write_bytes(keep(path.read_bytes()))

    return make


def _with(index: int, value: float) -> np.ndarray:
    signal = CLIP.copy()
    signal[index] = value
    return signal


def _ten_minutes(path: Path) -> None:
    """600 s of a 150 Hz buzz whose middle 30 s are a 400 Hz buzz instead."""
    t = np.arange(600 * 16000, dtype=np.float32) / 16000
    f0 = np.where(np.abs(t - 300) < 15, 400.0, 150.0).astype(np.float32)
    sf.write(path, 0.3 * np.sign(np.sin(2 * np.pi * f0 * t)), 16000, subtype="PCM_16")


def _click_in_silence(path: Path) -> None:
    signal = np.zeros(32000, np.float32)
    signal[16000:16800] = tone(300.0, seconds=0.05, lead=0.0)
    sf.write(path, signal, 16000)


# name -> (how to make it, None if it must be processed, else the full skip reason as a regex)
CASES: dict[str, tuple[Callable[[Path], None], str | None]] = {
    "missing.wav": (lambda path: None, "not found"),
    "zero_bytes.mp3": (lambda path: path.write_bytes(b""), re.escape("empty file (0 bytes)")),
    "a_folder.wav": (lambda path: path.mkdir(), "not a regular file"),
    "truncated.mp3": (_mp3_bytes(lambda data: data[: len(data) // 2]), None),
    "cut_in_first_frame.mp3": (_mp3_bytes(lambda data: data[:300]), NOT_MPEG),
    "random_bytes.mp3": (lambda path: path.write_bytes(np.random.default_rng(0).bytes(5000)), NOT_MPEG),
    "text.wav": (lambda path: path.write_text("hello\n" * 20),
                 re.escape("not decodable as audio: Format not recognised.")),
    "header_only.wav": (_wav(np.zeros(0, np.float32)),
                        "not decodable as audio: it holds no audio samples"),
    "silent.wav": (_wav(np.zeros(16000, np.float32)), "silent: every sample is 0"),
    "short_0.05s.wav": (_wav(tone(180.0, seconds=0.05, lead=0.0)),
                        re.escape("too short: 0.05 s < min_seconds=0.3")),
    "click_in_silence.wav": (_click_in_silence,
                             r"too short after trimming: 0\.\d\d s < min_seconds=0\.3"),
    "ten_minutes.wav": (_ten_minutes, None),
    "pcm_u8.wav": (_wav(CLIP, subtype="PCM_U8"), None),
    "pcm_24.wav": (_wav(CLIP, subtype="PCM_24"), None),
    "float32.wav": (_wav(CLIP, subtype="FLOAT"), None),
    "stereo.wav": (_wav(np.stack([CLIP, CLIP], axis=1)), None),
    "six_channels.wav": (_wav(np.stack([CLIP] * 6, axis=1)), None),
    "rate_8000.wav": (_wav(tone(180.0, seconds=1.0, sr=8000), 8000), None),
    "rate_22050.wav": (_wav(tone(180.0, seconds=1.0, sr=22050), 22050), None),
    "rate_48000.wav": (_wav(tone(180.0, seconds=1.0, sr=48000), 48000), None),
    "nan.wav": (_wav(_with(9000, np.nan), subtype="FLOAT"),
                re.escape("non-finite samples: 1 of 28800 are NaN or Inf")),
    "inf.wav": (_wav(_with(9000, np.inf), subtype="FLOAT"),
                re.escape("non-finite samples: 1 of 28800 are NaN or Inf")),
    "clipped_full_scale.wav": (_wav(np.clip(CLIP * 20, -1.0, 1.0)), None),
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> PreparedArray:
    """Every case, prepared together in one run; the reference 16-bit clip comes first."""
    folder = tmp_path_factory.mktemp("audio")
    sf.write(folder / "reference.wav", CLIP, 16000)
    for name, (make, _) in CASES.items():
        make(folder / name)
    table = pd.DataFrame({"path": [str(folder / "reference.wav")] + [str(folder / n) for n in CASES]})
    load = partial(load_clip, params=PARAMS)
    return prepare_store(table, load, (PARAMS.length,), "int16", folder / "cache", num_workers=0)


def test_no_file_is_dropped_silently(prepared: PreparedArray) -> None:
    kept, skipped = set(prepared.index["path"]), set(prepared.skipped["path"])
    assert not kept & skipped and len(kept | skipped) == len(CASES) + 1
    assert len(prepared.data) == len(kept)


@pytest.mark.parametrize("name", CASES)
def test_case(prepared: PreparedArray, name: str) -> None:
    names = prepared.index["path"].map(lambda p: Path(p).name)
    reasons = dict(zip(prepared.skipped["path"].map(lambda p: Path(p).name), prepared.skipped["reason"]))
    expected = CASES[name][1]
    if expected is not None:
        assert re.fullmatch(expected, reasons.get(name, "<processed>")), reasons.get(name)
        return
    assert name not in reasons, reasons.get(name)
    row = np.asarray(prepared.data[int(np.flatnonzero(names == name)[0])])
    duration = float(prepared.index.loc[names == name, "duration_s"].iloc[0])
    assert np.abs(row.astype(np.int32)).max() == PEAK, "peak-normalised, no wrap-around"
    if name == "ten_minutes.wav":
        assert duration <= PARAMS.max_seconds
    elif name == "truncated.mp3":
        assert 0.3 <= duration < 0.9, "the decodable half of the 1.8 s file, trimmed"
    else:
        assert 0.9 <= duration <= 1.8, "the 1 s of voice at least, the 1.8 s file at most"


def test_formats_and_channel_counts_give_the_reference_row(prepared: PreparedArray) -> None:
    rows = dict(zip(prepared.index["path"].map(lambda p: Path(p).name), prepared.data))
    reference = rows["reference.wav"].astype(np.float64)
    for name in ("pcm_24.wav", "float32.wav", "stereo.wav", "six_channels.wav"):
        assert np.corrcoef(reference, rows[name].astype(np.float64))[0, 1] > 0.99, name


def test_ten_minutes_decode_only_the_middle_window(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    _ten_minutes(path)
    tracemalloc.start()
    try:
        row, extra = load_clip(str(path), CleanParams(denoise=False))
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    # the whole file as float32 would be 38 MB; the 20 s window is 1.3 MB
    assert peak_mb < 8, f"{peak_mb:.0f} MB held while decoding"
    spectrum = np.abs(np.fft.rfft(row.astype(np.float64)))
    assert abs(np.argmax(spectrum) / PARAMS.clip_seconds - 400) < 2, "cropped from the middle"
    assert extra["duration_s"] == PARAMS.max_seconds


def test_a_cut_mp3_still_declaring_its_full_length_is_read_where_it_has_audio(tmp_path: Path) -> None:
    # its header still says 12 s: the middle of those 12 s lies past the 3 s really there
    path = tmp_path / "cut.mp3"
    sf.write(path, 0.3 * np.sign(np.sin(2 * np.pi * 200 * np.arange(12 * 16000) / 16000)), 16000,
             format="MP3")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 4])
    params = CleanParams(denoise=False, max_seconds=3.0)
    assert sf.info(str(path)).duration > 2 * params.max_seconds
    row, extra = load_clip(str(path), params)
    assert extra["duration_s"] > 2.0 and np.sqrt(np.mean(row[: 2 * 16000].astype(float) ** 2)) > 5000


def test_decoder_chatter_does_not_reach_the_console(tmp_path: Path, capfd) -> None:
    make, _ = CASES["random_bytes.mp3"]
    make(tmp_path / "r.mp3")
    _mp3_bytes(lambda data: data[: len(data) // 2])(tmp_path / "t.mp3")
    for path in (tmp_path / "r.mp3", tmp_path / "t.mp3"):
        try:
            load_clip(str(path), CleanParams(denoise=False))
        except Exception:  # noqa: BLE001 - only the console output matters here
            pass
    err = capfd.readouterr().err
    assert "Illegal Audio-MPEG-Header" not in err and "Xing" not in err, err
