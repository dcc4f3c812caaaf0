"""Light loaders for the robustness tests, and a command line that prepares a store with them.

The loaders read int16 WAV with soundfile only: a subprocess that imported librosa's trimming
would spend 10-20 s on imports on a busy 2-core machine, and the store is what these tests test.
"""

from __future__ import annotations

import argparse
import errno
import os
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from voxray.data.cache import PreparedArray, SkipFile
from voxray.data.store import prepare_store

LENGTH = 4000  # samples per row
PART_SIZE = 4  # files per part: a 40-file table makes 10 parts
FAILURES = {
    "eio": lambda: OSError(errno.EIO, "Input/output error"),
    "memory": MemoryError,
    "bug": lambda: ZeroDivisionError("division by zero"),
}


def wave_row(path: str) -> tuple[np.ndarray, dict]:
    """int16 WAV -> (LENGTH,) int16 row, zero-padded or cut, and its sample count."""
    if os.path.getsize(path) == 0:
        raise SkipFile("empty file (0 bytes)")
    try:
        audio, _ = sf.read(path, dtype="int16")
    except sf.LibsndfileError as err:
        raise SkipFile(f"not decodable as audio: {err.error_string}") from err
    row = np.zeros(LENGTH, np.int16)
    row[: min(LENGTH, len(audio))] = audio[:LENGTH]
    return row, {"samples": len(audio)}


def slow_wave_row(path: str, delay: float, log: str | None = None) -> tuple[np.ndarray, dict]:
    """`wave_row` after `delay` seconds; appends this process's id to `log` for every call."""
    time.sleep(delay)
    if log:
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
    return wave_row(path)


def flaky_row(path: str, failure: str) -> tuple[np.ndarray, dict]:
    """`wave_row`, but a file named flaky* raises FAILURES[failure] until `<path>.healed` exists."""
    if Path(path).name.startswith("flaky") and not Path(f"{path}.healed").exists():
        raise FAILURES[failure]()
    return wave_row(path)


def write_clips(folder: Path, n: int) -> pd.DataFrame:
    """`n` short int16 WAV clips of different tones, every 10th one empty; the table of their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"clip{i:03d}.wav"
        if i % 10 == 7:
            path.write_bytes(b"")
        else:
            t = np.arange(LENGTH - 10 * i) / 16000
            sf.write(path, (0.3 * np.sin(2 * np.pi * (100 + 10 * i) * t)).astype(np.float32), 16000,
                     subtype="PCM_16")
        paths.append(str(path))
    return pd.DataFrame({"path": paths})


def prepare(
    table: pd.DataFrame, folder: Path, delay: float = 0.0, log: str | None = None, num_workers: int = 0,
    task: tuple[int, int] | None = None,
) -> PreparedArray | None:
    """prepare_store with `slow_wave_row`, in parts of PART_SIZE files (in this process by default);
    None while parts that `task` leaves to other processes are missing."""
    load = partial(slow_wave_row, delay=delay, log=log)
    return prepare_store(table, load, (LENGTH,), "int16", folder, num_workers, part_size=PART_SIZE, task=task)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("table", help="CSV with a path column")
    parser.add_argument("folder", help="cache folder")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds of sleep per file")
    parser.add_argument("--log", help="file that gets this process's id once per loaded file")
    parser.add_argument("--workers", type=int, default=0, help="preparation processes (0 = this one)")
    parser.add_argument("--task", help="K/N: prepare only the parts of task K of N")
    parser.add_argument("--ready", help="create this file once imported")
    parser.add_argument("--go", help="then wait until this file exists before preparing")
    args = parser.parse_args()
    table = pd.read_csv(args.table)
    if args.ready:
        Path(args.ready).touch()
    while args.go and not Path(args.go).exists():
        time.sleep(0.01)
    task = tuple(int(k) for k in args.task.split("/")) if args.task else None
    prepared = prepare(table, Path(args.folder), args.delay, args.log, args.workers, task)
    print("incomplete" if prepared is None else f"rows={len(prepared.data)} skipped={len(prepared.skipped)}",
          flush=True)


if __name__ == "__main__":
    main()
