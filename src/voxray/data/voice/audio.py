"""Decode one voice clip and clean it into a fixed-length int16 waveform (the cache's row).

Every file ends as a row or as a `SkipFile` whose reason is a fact about the file: not found,
empty file (0 bytes), not decodable as audio (with the decoder's message), non-finite samples,
silent, too short. Anything else (an I/O error of the disk, a bug) propagates and stops the run.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import librosa
import noisereduce
import numpy as np
import soundfile as sf

from voxray.data.cache import SkipFile

# libsndfile's MPEG decoder reports a file it cannot parse as this (its error 7), even when the
# file exists and is readable: a text or random file named .mp3, or an MP3 cut inside its first frame.
_MPEG_OPEN_FAILED = "File does not exist or is not a regular file"


@dataclass(frozen=True)
class CleanParams:
    """Preparation settings; every field is part of the cache key.

    Args:
        sample_rate: target rate in Hz (16000).
        clip_seconds: fixed output length (3.0 s).
        denoise: non-stationary spectral gating with noisereduce, as the source analysis did.
        trim_top_db: `librosa.effects.trim` threshold below the peak, in dB.
        min_seconds: clips shorter than this after trimming are skipped (nothing to learn from).
        max_seconds: only the central `max_seconds` of a longer file are decoded (20.0 s).
    """

    sample_rate: int = 16000
    clip_seconds: float = 3.0
    denoise: bool = True
    trim_top_db: float = 30.0
    min_seconds: float = 0.3
    # The row keeps 3 s from the middle of the trimmed clip. Common Voice records at most 10 s, so
    # a 20 s window decodes every real clip whole (trimming and denoising see exactly what they
    # saw before); a 10-minute file costs the memory of a 20 s one, and its middle 20 s still
    # hold the middle 3 s that the centre crop would have taken from the whole recording.
    max_seconds: float = 20.0

    def __post_init__(self) -> None:
        if self.max_seconds < self.clip_seconds:
            raise ValueError(
                f"clean.max_seconds={self.max_seconds} must be at least clip_seconds={self.clip_seconds}"
            )

    @property
    def length(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))

    def as_dict(self) -> dict:
        return asdict(self)


@contextmanager
def _decoder_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null while libsndfile runs.

    mpg123 (inside libsndfile) prints notes such as "Illegal Audio-MPEG-Header ..." straight to
    fd 2, bypassing Python. Only the decoder calls run inside this block, so Python warnings and
    logs are untouched; another thread's C-level stderr output in that window would be lost too.
    """
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _check_file(path: str) -> None:
    """Skip a missing, non-regular or empty file; libsndfile's own messages for these mislead."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SkipFile("not found") from None
    if not stat.S_ISREG(info.st_mode):
        raise SkipFile("not a regular file")
    if info.st_size == 0:
        raise SkipFile("empty file (0 bytes)")


def _read_through(path: str) -> None:
    """Read every byte; an I/O error of the disk raises OSError here instead of posing as corruption."""
    with open(path, "rb") as handle:
        while handle.read(1 << 20):
            pass


def _read_mono(path: str, max_seconds: float) -> tuple[np.ndarray, int]:
    """The central `max_seconds` of the file as mono float32, read in 1 s blocks; (audio, rate)."""
    try:
        with _decoder_stderr_silenced(), sf.SoundFile(path) as f:
            rate, frames = f.samplerate, f.frames
            n = min(frames, int(max_seconds * rate))
            mono = _read_window(f, (frames - n) // 2, n)
            if len(mono) < n and frames > n:
                # The header declares more than the file holds (an MP3 cut short keeps its Xing
                # header): count the frames really there, then read their middle.
                frames = _count_frames(f)
                n = min(frames, n)
                mono = _read_window(f, (frames - n) // 2, n)
    except sf.LibsndfileError as err:
        _read_through(path)
        message = err.error_string
        if message.startswith(_MPEG_OPEN_FAILED):
            message = "no complete MPEG audio frame found"
        raise SkipFile(f"not decodable as audio: {message}") from err
    if len(mono) == 0:
        raise SkipFile("not decodable as audio: it holds no audio samples")
    return mono, rate


def _read_window(f: sf.SoundFile, start: int, n: int) -> np.ndarray:
    """Up to `n` frames from `start`, mixed to mono float32, (T,)."""
    f.seek(start)
    mono, at = np.zeros(n, dtype=np.float32), 0
    # read(), not blocks(): past the real end of a file whose header declares more frames,
    # blocks() yields its buffer's stale contents; read() returns only what it got.
    while at < n:
        block = f.read(min(f.samplerate, n - at), dtype="float32", always_2d=True)  # (T, C)
        if len(block) == 0:
            break
        mono[at : at + len(block)] = block.mean(axis=1)
        at += len(block)
    return mono[:at]


def _count_frames(f: sf.SoundFile) -> int:
    """Frames really decodable, counted in 1 s blocks (memory stays one block)."""
    f.seek(0)
    total = 0
    while len(block := f.read(f.samplerate, dtype="float32", always_2d=True)):
        total += len(block)
    return total


def decode(path: str, sample_rate: int, max_seconds: float = 20.0) -> np.ndarray:
    """Read any soundfile-supported file (MP3/WAV/FLAC/OGG, any rate, any channels) as mono float32.

    Args:
        path: audio file.
        sample_rate: output rate in Hz.
        max_seconds: decode only the central `max_seconds` of a longer file (20.0).
    """
    _check_file(path)
    mono, rate = _read_mono(path, max_seconds)
    bad = int(np.count_nonzero(~np.isfinite(mono)))
    if bad:  # before resampling, which would smear one NaN over the whole clip
        raise SkipFile(f"non-finite samples: {bad} of {len(mono)} are NaN or Inf")
    if rate != sample_rate:
        mono = librosa.resample(mono, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq")
    return mono.astype(np.float32)


def clean(audio: np.ndarray, params: CleanParams) -> np.ndarray:
    """Denoise, trim silence at both ends; returns the cleaned float32 clip (not yet padded)."""
    if np.abs(audio).max() == 0:
        raise SkipFile("silent: every sample is 0")
    seconds = len(audio) / params.sample_rate
    if seconds < params.min_seconds:  # also spares noisereduce clips shorter than its FFT window
        raise SkipFile(f"too short: {seconds:.2f} s < min_seconds={params.min_seconds}")
    if params.denoise:
        audio = noisereduce.reduce_noise(y=audio, sr=params.sample_rate, stationary=False)
    trimmed, _ = librosa.effects.trim(audio, top_db=params.trim_top_db)
    if len(trimmed) < params.min_seconds * params.sample_rate:
        raise SkipFile(
            f"too short after trimming: {len(trimmed) / params.sample_rate:.2f} s "
            f"< min_seconds={params.min_seconds}"
        )
    return trimmed.astype(np.float32)


def fix_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Centre-crop a longer clip, zero-pad a shorter one at the end, to exactly `length` samples."""
    if len(audio) >= length:
        start = (len(audio) - length) // 2  # the middle of an utterance is its most voiced part
        return audio[start : start + length]
    return np.pad(audio, (0, length - len(audio)))


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Peak-normalise to -1 dBFS and quantise; int16 halves the cache against float32."""
    peak = np.abs(audio).max()
    scale = 0.89 / peak if peak > 0 else 1.0
    return np.clip(np.round(audio * scale * 32767), -32768, 32767).astype(np.int16)


def load_clip(path: str, params: CleanParams) -> tuple[np.ndarray, dict]:
    """The cache loader: path -> (int16 (length,), {"duration_s": cleaned length before padding})."""
    audio = clean(decode(path, params.sample_rate, params.max_seconds), params)
    duration = len(audio) / params.sample_rate
    return to_int16(fix_length(audio, params.length)), {"duration_s": round(duration, 4)}
