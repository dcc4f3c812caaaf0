"""What every preparation shares: the skip contract, atomic writes, the store key, the CPUs to use.

A loader raises `SkipFile` for a file to leave out, with a reason a person can check; the file is
listed with it, never dropped silently. Any other exception is a real failure: it stops the run
with the file named, and the next run retries the file. The store itself is `voxray.data.store`.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxray.errors import UserError


class SkipFile(Exception):
    """Raised by a loader for a file to skip; the message is a fact a person can check."""


class TooManySkippedError(UserError):
    """More than `max_skip_fraction` of the files were skipped; the prepared store is kept.

    A fact about the user's data, not a bug: the entry points print it as one line."""


@dataclass
class PreparedArray:
    """A prepared store: its rows (random access), their index and the skip list."""

    data: np.ndarray  # (N, *shape) array-like, read-only: `voxray.data.store.ChunkRows`
    index: pd.DataFrame  # N rows: the input rows that were prepared, in input order
    skipped: pd.DataFrame  # columns: path, reason
    folder: Path


def cache_key(*parts: Any) -> str:
    """Stable short hash of JSON-serialisable parts (input list, parameters, code version)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def owner_tag() -> str:
    """`~host~pid~`: names a temporary file or folder after the process that may still rename it."""
    return f"~{socket.gethostname()}~{os.getpid()}~"


def available_cpus() -> int:
    """The CPUs this job may use: SLURM's grant, else this process's affinity (a cgroup's limit,
    which `os.cpu_count()` does not see)."""
    slurm = os.environ.get("SLURM_CPUS_ON_NODE", "")
    return int(slurm) if slurm.isdigit() and int(slurm) > 0 else len(os.sched_getaffinity(0))


def atomic_write_bytes(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary sibling of `path`, flush it to disk, rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{owner_tag()}", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as handle:  # without fsync a crash could leave a renamed, empty file
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def exit_with(parent: int) -> None:
    """Pool initializer: on Linux, have the kernel kill this worker when `parent` dies.

    Without it, workers of a run killed with SIGKILL live on, blocked, each holding its memory.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)


def check_skips(skipped: int, kept: int, folder: Path, max_skip_fraction: float | None) -> None:
    """Raise `TooManySkippedError` if more than `max_skip_fraction` of the files were skipped."""
    total = skipped + kept
    if max_skip_fraction is None or total == 0 or skipped / total <= max_skip_fraction:
        return
    raise TooManySkippedError(
        f"{skipped} of {total} files ({skipped / total:.1%}) were skipped, more than "
        f"max_skip_fraction={max_skip_fraction:g}; the reasons are in "
        f"{folder / 'skipped.csv'}. Fix those files, or raise data.max_skip_fraction to "
        f"train without them (the prepared store is kept)"
    )
