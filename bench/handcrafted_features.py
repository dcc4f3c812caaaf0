"""Throughput of the hand-crafted features: 1 worker vs all, librosa's pYIN resolution vs ours.

    uv run python bench/handcrafted_features.py --clips 200 --workers 16
"""

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from voxray.features.handcrafted import FeatureParams, compute_features, warm_up

SR = 16000


def synth_clips(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voiced 3-s clips: harmonic tones with vibrato, syllable-like gating and noise.

    Args:
        n: number of clips.
        seed: random seed (0).

    Returns:
        int16 waves (n, 48000) zero-padded after the speech, speech durations (n,) and base f0 (n,).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(3 * SR) / SR
    waves = np.zeros((n, t.size), dtype=np.int16)
    durations = rng.uniform(1.5, 3.0, n)
    base_f0 = rng.uniform(80.0, 350.0, n)
    for row in range(n):
        f0 = base_f0[row] * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 6) * t))
        phase = 2 * np.pi * np.cumsum(f0) / SR
        y = sum(np.sin(k * phase) / k for k in range(1, 6))
        syllables = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(3, 5) * t) ** 2  # ~4 syllables/s
        y = 0.2 * y * syllables + 0.01 * rng.standard_normal(t.size)
        speech = int(durations[row] * SR)
        waves[row, :speech] = (y[:speech] * 32767).astype(np.int16)
    return waves, durations, base_f0


def timed(
    waves: np.ndarray, durations: np.ndarray, params: FeatureParams, workers: int
) -> tuple[float, pd.DataFrame]:
    """Wall time and result of one uncached compute_features call."""
    start = time.perf_counter()
    features = compute_features(waves, durations, params, num_workers=workers, desc=f"{workers}w")
    return time.perf_counter() - start, features


def main() -> None:
    """Time each setting on the same memmapped clips and print clips/s and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    n, w = args.clips, args.workers

    waves, durations, base_f0 = synth_clips(n)
    tuned = FeatureParams()
    settings = {"tuned": tuned, "librosa default": replace(tuned, pyin_resolution=0.1)}
    warm_up(tuned)  # the 1-worker runs are in-process: keep the one-off warm-up out of their time
    load_before = os.getloadavg()[0]
    rate, startup, f0_error = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "waves.npy", waves)
        waves = np.load(Path(tmp) / "waves.npy", mmap_mode="r")  # as the real clip cache is read
        for name, params in settings.items():
            seconds, features = timed(waves, durations, params, 1)
            rate[name, 1] = n / seconds
            seconds, _ = timed(waves, durations, params, w)  # includes the pool's start-up
            rate[name, w] = n / seconds
            # One clip per worker: mostly the one-off start-up (spawn, imports, pYIN warm-up).
            startup[name], _ = timed(waves[:w], durations[:w], params, w)
            f0_error[name] = 100 * np.abs(features["f0_median"] / base_f0 - 1)

    print(f"\n{n} voiced 3-s clips; 1 worker (in-process) vs {w} worker processes; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"{'pyin setting':<16}{'res.':>5}{'1 worker':>11}{f'{w} workers':>12}{'speed-up':>10}"
          f"{'pool start-up':>15}   |f0_median err| median / max")
    for name, params in settings.items():
        one, many, err = rate[name, 1], rate[name, w], f0_error[name]
        print(f"{name:<16}{params.pyin_resolution:>5}{one:>9.1f}/s{many:>10.1f}/s"
              f"{many / one:>9.2f}x{startup[name]:>14.1f}s"
              f"   {np.median(err):.2f}% / {err.max():.2f}%")
    tuning = [rate["tuned", k] / rate["librosa default", k] for k in (1, w)]
    print(f"tuning speed-up: {tuning[0]:.2f}x (1 worker), {tuning[1]:.2f}x ({w} workers); "
          f"tuned + {w} workers vs default + 1 worker: "
          f"{rate['tuned', w] / rate['librosa default', 1]:.2f}x")


if __name__ == "__main__":
    main()
