"""Hand-crafted features: pitch and onset accuracy, padding exclusion, finiteness, caching."""

import numpy as np
import pandas as pd
import pytest

from voxray.features import handcrafted
from voxray.features.handcrafted import (
    FeatureParams,
    clip_features,
    compute_features,
    feature_names,
)

SR = 16000


def _tone(f0: float, seconds: float) -> np.ndarray:
    """Harmonic tone (four partials, 1/k amplitudes) as int16, shape (seconds * SR,)."""
    t = np.arange(int(seconds * SR)) / SR
    y = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 5))
    return (y * 32767).astype(np.int16)


def _clicks(times: np.ndarray, seconds: float) -> np.ndarray:
    """20 ms decaying noise bursts at `times` on digital silence, float, shape (seconds * SR,)."""
    rng = np.random.default_rng(0)
    y = np.zeros(int(seconds * SR))
    n = int(0.02 * SR)
    for start in (times * SR).astype(int):
        y[start : start + n] += 0.5 * rng.standard_normal(n) * np.exp(-np.arange(n) / (0.004 * SR))
    return y


@pytest.mark.parametrize("f0", [150.0, 220.0])
def test_f0_of_harmonic_tone(f0: float) -> None:
    features = clip_features(_tone(f0, 3.0), 3.0, FeatureParams())
    assert features["f0_median"] == pytest.approx(f0, rel=0.02)
    assert features["f0_p05"] == pytest.approx(f0, rel=0.02)
    assert features["f0_p95"] == pytest.approx(f0, rel=0.02)
    assert features["voiced_fraction"] > 0.9
    assert features["onset_count"] == 0  # a steady tone has no onsets


def test_onset_count_of_click_train_is_exact() -> None:
    times = 0.3 + 0.4 * np.arange(6)
    features = clip_features(_clicks(times, 3.0), 2.6, FeatureParams())
    assert features["onset_count"] == 6
    assert features["words_per_s"] == pytest.approx(6 / 2.6)
    assert features["duration_s"] == 2.6


def test_padding_is_excluded() -> None:
    params = FeatureParams()
    speech = _tone(150.0, 1.7)
    padded = np.zeros(3 * SR, dtype=np.int16)
    padded[: speech.size] = speech
    unpadded = clip_features(speech, speech.size / SR, params)
    padded_features = clip_features(padded, speech.size / SR, params)
    assert padded_features == pytest.approx(unpadded, rel=1e-6, abs=1e-9)
    # The test has teeth: counting the padding as speech changes the features.
    with_padding = clip_features(padded, 3.0, params)
    assert with_padding["voiced_fraction"] < 0.7 < unpadded["voiced_fraction"]


@pytest.mark.parametrize(
    ("wave", "duration_s"),
    [
        (np.zeros(3 * SR, dtype=np.int16), 3.0),  # silence
        (np.zeros(3 * SR, dtype=np.int16), 0.01),  # 10 ms of speech
        (np.zeros(3 * SR, dtype=np.int16), 0.0),  # nothing left after trimming
        (np.zeros(100), 100 / SR),  # shorter than one frame
    ],
)
def test_silent_and_short_clips_are_finite(wave: np.ndarray, duration_s: float) -> None:
    features = clip_features(wave, duration_s, FeatureParams())
    assert list(features) == feature_names(FeatureParams())
    assert np.isfinite(list(features.values())).all()
    assert features["voiced_fraction"] == 0
    assert features["onset_count"] == 0


@pytest.fixture
def waves_memmap(tmp_path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Six 1-s tones of distinct f0 in an int16 memmap, their durations and their f0."""
    f0s = np.array([100.0, 130.0, 170.0, 210.0, 260.0, 320.0])
    waves = np.zeros((len(f0s), SR), dtype=np.int16)
    durations = np.array([1.0, 0.8, 0.6, 1.0, 0.9, 0.7])
    for row, (f0, duration) in enumerate(zip(f0s, durations)):
        waves[row, : int(duration * SR)] = _tone(f0, duration)
    np.save(tmp_path / "waves.npy", waves)
    return np.load(tmp_path / "waves.npy", mmap_mode="r"), durations, f0s


def test_cache_is_reused_and_keyed_by_params(waves_memmap, tmp_path, monkeypatch) -> None:
    waves, durations, f0s = waves_memmap
    cache = tmp_path / "cache"
    calls = []
    original = handcrafted.clip_features

    def counting(*args: object) -> dict[str, float]:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(handcrafted, "clip_features", counting)
    first = compute_features(waves, durations, FeatureParams(), cache_dir=cache, num_workers=0)
    assert len(calls) == len(waves)
    assert first["f0_median"].to_numpy() == pytest.approx(f0s, rel=0.02)  # row order kept
    assert first["duration_s"].to_numpy() == pytest.approx(durations)

    def fail(*args: object) -> None:
        raise AssertionError("recomputed instead of reading the cache")

    monkeypatch.setattr(handcrafted, "clip_features", fail)
    second = compute_features(waves, durations, FeatureParams(), cache_dir=cache, num_workers=0)
    pd.testing.assert_frame_equal(first, second)
    assert [p.suffix for p in cache.iterdir()] == [".npz"]  # no temp file left behind

    monkeypatch.setattr(handcrafted, "clip_features", original)
    params = FeatureParams(n_mfcc=5)
    other = compute_features(waves, durations, params, cache_dir=cache, num_workers=0)
    assert len(list(cache.iterdir())) == 2
    assert "mfcc4_std" in other and "mfcc5_mean" not in other
    compute_features(waves, durations * 0.9, FeatureParams(), cache_dir=cache, num_workers=0)
    assert len(list(cache.iterdir())) == 3  # other inputs, other key
    uncached = compute_features(waves, durations, FeatureParams(), num_workers=1)
    pd.testing.assert_frame_equal(first, uncached)


def test_process_pool_matches_in_process(waves_memmap) -> None:
    waves, durations, _ = waves_memmap
    serial = compute_features(waves, durations, FeatureParams(), num_workers=0)
    parallel = compute_features(waves, durations, FeatureParams(), num_workers=2)
    pd.testing.assert_frame_equal(serial, parallel)
    assert list(serial.columns) == feature_names(FeatureParams())


def test_mismatched_inputs_raise() -> None:
    with pytest.raises(ValueError, match="durations"):
        compute_features(np.zeros((3, 100), dtype=np.int16), np.ones(2), FeatureParams())
