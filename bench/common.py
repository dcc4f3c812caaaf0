"""What the benchmarks share: the device, the real models from the Hydra config, steady-state timing,
and folders of real audio and image files for the usual-way pipelines and the preparation step."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from PIL import Image

from record import RESULTS  # the script's folder is on sys.path

CONF = Path(__file__).resolve().parents[1] / "conf"


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser with the flags every benchmark has: --device, --results."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="where the model and the front end run (cuda when there is one)")
    p.add_argument("--results", type=Path, default=RESULTS, help="the markdown file the table is appended to")
    return p


def compose_model(experiment: str, overrides: Sequence[str] = ()) -> tuple[torch.nn.Module, object]:
    """The LightningModule of `train.py experiment=<experiment> <overrides>` (untrained) and its config."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}", *overrides])
    return instantiate(cfg.model), cfg


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timer reads finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steady_rate(step: Callable[[], int], warmup: int, steps: int, device: torch.device) -> float:
    """Items per second of `step()` (which returns the items it handled) over `steps` calls, after
    `warmup` calls that start workers, fill caches, autotune and compile."""
    for _ in range(warmup):
        step()
    sync(device)
    start, n = time.perf_counter(), 0
    for _ in range(steps):
        n += step()
    sync(device)
    return n / (time.perf_counter() - start)


def rate_for(run: Callable[[], int], min_seconds: float, device: torch.device) -> float:
    """Items per second of `run()` repeated until `min_seconds` have passed (after one warm-up call)."""
    run()
    sync(device)
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < min_seconds:
        n += run()
        sync(device)
    return n / (time.perf_counter() - start)


def speech(n_distinct: int, seconds: float, rate: int) -> list[np.ndarray]:
    """Synthetic voices (`voxray.synth`) with 0.5 s of near-silence each side, float32 at `rate`."""
    from voxray.synth.voice_source import sample_voice, speak

    rng = np.random.default_rng(0)
    clips = []
    for i in range(n_distinct):
        voice = speak(sample_voice(i % 9, i % 2 == 0, rng), seconds, rate, rng)
        pad = 0.001 * rng.standard_normal(rate // 2)
        x = np.concatenate([pad, voice / (np.abs(voice).max() + 1e-9) * 0.5, pad])
        clips.append(x.astype(np.float32))
    return clips


def write_audio(folder: Path, n: int, seconds: float = 4.0, rate: int = 48000) -> list[str]:
    """`n` MP3 files as Common Voice ships them (48 kHz mono), a few distinct voices repeated."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = speech(min(n, 8), seconds, rate)
    paths = []
    for i in range(n):
        path = folder / f"clip_{i:05d}.mp3"
        sf.write(path, clips[i % len(clips)], rate, format="MP3")
        paths.append(str(path))
    return paths


def write_films(folder: Path, n: int, px: int = 1024) -> list[str]:
    """`n` grayscale JPEG radiographs (`voxray.synth.xray`) about `px` wide, in ImageFolder layout
    (`NORMAL/`, `PNEUMONIA/`), a few distinct films repeated."""
    from voxray.synth.xray import render_xray

    films = [(kind, render_xray(kind, i, i, size=px)) for i, kind in enumerate(("normal", "bacteria") * 2)]
    paths = []
    for i in range(n):
        kind, film = films[i % len(films)]
        path = folder / ("NORMAL" if kind == "normal" else "PNEUMONIA") / f"film_{i:05d}.jpeg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(film).save(path, quality=90)
        paths.append(str(path))
    return paths


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0))


def load_line() -> str:
    """The machine's load while the benchmark ran: 1-minute load average against its cores."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end of the run"


def figure(x: float) -> str:
    """A rate for a table: whole numbers from 100 up, else three significant digits (ratios stay checkable)."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"
