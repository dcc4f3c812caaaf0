"""Decode one voice clip and clean it into a fixed-length int16 waveform (the cache's row)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import librosa
import noisereduce
import numpy as np
import soundfile as sf

from voxray.data.cache import SkipFile


@dataclass(frozen=True)
class CleanParams:
    """Preparation settings; every field is part of the cache key.

    Args:
        sample_rate: target rate in Hz (16000).
        clip_seconds: fixed output length (3.0 s).
        denoise: non-stationary spectral gating with noisereduce, as the source analysis did.
        trim_top_db: `librosa.effects.trim` threshold below the peak, in dB.
        min_seconds: clips shorter than this after trimming are skipped (nothing to learn from).
    """

    sample_rate: int = 16000
    clip_seconds: float = 3.0
    denoise: bool = True
    trim_top_db: float = 30.0
    min_seconds: float = 0.3

    @property
    def length(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))

    def as_dict(self) -> dict:
        return asdict(self)


def decode(path: str, sample_rate: int) -> np.ndarray:
    """Read any soundfile-supported file (MP3/WAV/FLAC/OGG, any rate, any channels) as mono float32."""
    try:
        audio, sr = sf.read(path, dtype="float32", always_2d=True)  # (T, C)
    except Exception as err:  # soundfile raises several types for broken files
        raise SkipFile(f"cannot decode: {type(err).__name__}: {err}") from err
    if audio.shape[0] == 0:
        raise SkipFile("empty audio (0 samples)")
    mono = audio.mean(axis=1)
    if sr != sample_rate:
        mono = librosa.resample(mono, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq")
    return mono.astype(np.float32)


def clean(audio: np.ndarray, params: CleanParams) -> np.ndarray:
    """Denoise, trim silence at both ends; returns the cleaned float32 clip (not yet padded)."""
    if not np.isfinite(audio).all():
        raise SkipFile("non-finite samples")
    if np.abs(audio).max() == 0:
        raise SkipFile("digital silence")
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
    audio = clean(decode(path, params.sample_rate), params)
    duration = len(audio) / params.sample_rate
    return to_int16(fix_length(audio, params.length)), {"duration_s": round(duration, 4)}
