"""A one-time, parallel, resumable preparation step that turns files into one fixed-shape array.

Every input file becomes one row of a memory-mapped `.npy` array (waveforms for voice, images for
X-ray). Work is done in chunks; each finished chunk is written atomically, so an interrupted run
(even a SIGKILL) resumes at the first missing chunk and ends byte-identical to an uninterrupted one.
A file the loader rejects with `SkipFile` is listed with its reason in `skipped.csv`, never dropped
silently; any other exception (a bug, MemoryError, an I/O error of the disk) stops the run with
the file named, and the next run retries that file. A lock file makes a second process that
prepares the same folder wait, then reuse the finished cache.

Folder layout (`<root>/<key>/`): `data.npy`, `index.jsonl` (one row per array row; JSON keeps ids
such as "0042" strings), `skipped.csv`, `complete.json` (written last: its presence means the cache
is whole), `.lock`; while preparing, `parts/` holds the finished chunks.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from voxray.errors import UserError

CHUNK = 128  # files per unit of resumable work: small enough to lose little on interrupt


class SkipFile(Exception):
    """Raised by a loader for a file to skip; the message is a fact a person can check."""


class TooManySkippedError(UserError):
    """More than `max_skip_fraction` of the files were skipped; the prepared cache is kept.

    A fact about the user's data, not a bug: the entry points print it as one line."""


@dataclass
class PreparedArray:
    """The result of `prepare_array`: the array (memory-mapped), its index and the skip list."""

    data: np.ndarray  # (N, *shape), memory-mapped read-only
    index: pd.DataFrame  # N rows: the input rows that were prepared, in input order
    skipped: pd.DataFrame  # columns: path, reason
    folder: Path


def cache_key(*parts: Any) -> str:
    """Stable short hash of JSON-serialisable parts (input list, parameters, code version)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def atomic_write_bytes(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary sibling of `path`, flush it to disk, rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as handle:  # without fsync a crash could leave a renamed, empty file
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _run_chunk(
    load: Callable[[str], np.ndarray], paths: Sequence[str], shape: tuple[int, ...], dtype: str
) -> tuple[np.ndarray, list[int], list[tuple[str, str]], list[dict]]:
    """Load one chunk of files; returns (rows, kept positions, skipped (path, reason), extras)."""
    rows, kept, skipped, extras = [], [], [], []
    for i, path in enumerate(paths):
        try:
            out = load(path)
        except SkipFile as err:
            skipped.append((path, str(err)))
            continue
        except Exception as err:
            err.add_note(f"while preparing {path} (rerun to retry; finished chunks are kept)")
            raise
        arr, extra = out if isinstance(out, tuple) else (out, {})
        if arr.shape != shape:
            raise ValueError(f"the loader returned shape {arr.shape} for {path}, expected {shape}")
        rows.append(arr.astype(dtype, copy=False))
        kept.append(i)
        extras.append(extra)
    data = np.stack(rows) if rows else np.zeros((0, *shape), dtype)
    return data, kept, skipped, extras


def _exit_with(parent: int) -> None:
    """Pool initializer: on Linux, have the kernel kill this worker when `parent` dies.

    Without it, workers of a run killed with SIGKILL live on, blocked, each holding its memory.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)


@contextmanager
def _exclusive(folder: Path, desc: str) -> Iterator[None]:
    """Hold an exclusive lock on `folder/.lock`; wait (and say so) while another process holds it.

    A POSIX record lock (`lockf`) belongs to this process alone: the kernel drops it when the
    process exits, however it exits, and the pool's forked workers do not inherit it, so workers
    orphaned by a killed run cannot keep the next run waiting (they would keep a `flock`).
    """
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):  # EAGAIN or EACCES, depending on the system
            print(f"{desc}: waiting for another process that is preparing {folder}", flush=True)
            fcntl.lockf(handle, fcntl.LOCK_EX)
        yield


def prepare_array(
    table: pd.DataFrame,
    load: Callable[[str], np.ndarray | tuple[np.ndarray, dict]],
    shape: tuple[int, ...],
    dtype: str,
    folder: str | Path,
    num_workers: int | None = None,
    desc: str = "preparing",
    chunk_size: int = CHUNK,
    max_skip_fraction: float | None = None,
) -> PreparedArray:
    """Prepare every `table.path` into one row of a cached array, or load the cache if complete.

    Args:
        table: input rows; must have a `path` column. Rows that prepare are kept, in order.
        load: picklable function path -> array of `shape` (optionally with a dict of extra index
            columns, e.g. the clip's duration); raise `SkipFile` to skip the file with a reason.
            Any other exception stops the run (the file is named in its note).
        shape: shape of one prepared row.
        dtype: numpy dtype of the stored array.
        folder: cache folder for this exact input and parameter set (see `cache_key`).
        num_workers: processes; None = all cores, 0 = in this process (debugging).
        desc: progress-bar label.
        chunk_size: files per resumable chunk (CHUNK = 128).
        max_skip_fraction: raise `TooManySkippedError` if a larger share of the files was skipped;
            None = no limit. The cache is kept either way, so a rerun does not prepare again.
    """
    if max_skip_fraction is not None and not 0.0 <= max_skip_fraction <= 1.0:
        raise ValueError(f"max_skip_fraction must be in [0, 1] or None, got {max_skip_fraction}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of files, got {chunk_size}")
    folder = Path(folder)
    if not (folder / "complete.json").exists():
        with _exclusive(folder, desc):
            if not (folder / "complete.json").exists():  # else another process just finished it
                _build(table, load, shape, dtype, folder, num_workers, desc, chunk_size)
    prepared = _open(folder)
    _check_skips(prepared, max_skip_fraction)
    return prepared


def _build(
    table: pd.DataFrame, load: Callable, shape: tuple[int, ...], dtype: str, folder: Path,
    num_workers: int | None, desc: str, chunk_size: int,
) -> None:
    """Prepare the missing chunks, then assemble; runs under the folder's lock."""
    paths = table["path"].astype(str).tolist()
    chunks = [paths[i : i + chunk_size] for i in range(0, len(paths), chunk_size)]
    parts = folder / "parts"
    _discard_leftovers(folder, {"chunk_size": chunk_size, "paths": cache_key(paths)})
    todo = [c for c in range(len(chunks)) if not (parts / f"{c:05d}.npz").exists()]
    if len(todo) < len(chunks):
        print(f"{desc}: resuming, {len(chunks) - len(todo)}/{len(chunks)} chunks already done")

    def save(c: int, result: tuple) -> None:
        data, kept, skipped, extras = result

        def write(p: Path) -> None:
            with open(p, "wb") as f:  # a file object: np.savez would append ".npz" to a path
                np.savez(f, data=data, kept=np.asarray(kept, dtype=np.int64),
                         skipped=json.dumps(skipped), extras=json.dumps(extras))

        atomic_write_bytes(parts / f"{c:05d}.npz", write)

    done = len(paths) - sum(len(chunks[c]) for c in todo)
    with tqdm(total=len(paths), desc=desc, unit="file", initial=done) as bar:
        if num_workers == 0:
            for c in todo:
                save(c, _run_chunk(load, chunks[c], shape, dtype))
                bar.update(len(chunks[c]))
        else:
            workers = num_workers or os.cpu_count()
            with ProcessPoolExecutor(workers, initializer=_exit_with, initargs=(os.getpid(),)) as pool:
                futures = {pool.submit(_run_chunk, load, chunks[c], shape, dtype): c for c in todo}
                try:
                    for fut in as_completed(futures):  # save each chunk as soon as it is done
                        save(futures[fut], fut.result())
                        bar.update(len(chunks[futures[fut]]))
                except BaseException:
                    pool.shutdown(cancel_futures=True)  # stop now rather than finish the queue
                    raise
    _assemble(table, len(chunks), chunk_size, shape, dtype, folder)


def _discard_leftovers(folder: Path, plan: dict) -> None:
    """Remove temporary files of a killed run, and chunks made for another input or chunk size."""
    for tmp in [*folder.glob(".*.tmp"), *folder.glob("parts/.*.tmp")]:
        tmp.unlink()  # never renamed, so never complete
    parts, plan_file = folder / "parts", folder / "parts" / "plan.json"
    if parts.exists() and (not plan_file.exists() or json.loads(plan_file.read_text()) != plan):
        print(f"discarding the chunks in {parts}: made for another file list or chunk size")
        shutil.rmtree(parts)
    if not plan_file.exists():
        atomic_write_bytes(plan_file, lambda p: p.write_text(json.dumps(plan)))


def _assemble(
    table: pd.DataFrame, n_chunks: int, chunk_size: int, shape: tuple[int, ...], dtype: str,
    folder: Path,
) -> None:
    """Join the chunk files into data.npy + index.jsonl + skipped.csv, then mark complete."""
    part_files = [folder / "parts" / f"{c:05d}.npz" for c in range(n_chunks)]
    rows, skipped, extras = [], [], []
    for c, f in enumerate(part_files):  # first pass: the small fields only
        with np.load(f) as z:
            rows += [c * chunk_size + int(i) for i in z["kept"]]
            skipped += json.loads(str(z["skipped"]))
            extras += json.loads(str(z["extras"]))

    def write_data(p: Path) -> None:
        out = np.lib.format.open_memmap(p, mode="w+", dtype=dtype, shape=(len(rows), *shape))
        at = 0
        for f in part_files:  # second pass streams one chunk at a time into the memmap
            with np.load(f) as z:
                out[at : at + len(z["data"])] = z["data"]
                at += len(z["data"])
        out.flush()

    atomic_write_bytes(folder / "data.npy", write_data)
    index = table.iloc[rows].reset_index(drop=True)
    if any(extras):
        index = pd.concat([index, pd.DataFrame(extras)], axis=1)
    skip_df = pd.DataFrame(skipped, columns=["path", "reason"])
    atomic_write_bytes(
        folder / "index.jsonl", lambda p: index.to_json(p, orient="records", lines=True)
    )
    atomic_write_bytes(folder / "skipped.csv", lambda p: skip_df.to_csv(p, index=False))
    summary = {"rows": len(rows), "skipped": len(skip_df), "shape": list(shape), "dtype": dtype,
               "columns": [str(c) for c in index.columns]}
    atomic_write_bytes(folder / "complete.json", lambda p: p.write_text(json.dumps(summary)))
    shutil.rmtree(folder / "parts")


def _check_skips(prepared: PreparedArray, max_skip_fraction: float | None) -> None:
    """Raise `TooManySkippedError` if more than `max_skip_fraction` of the files were skipped."""
    skipped, total = len(prepared.skipped), len(prepared.skipped) + len(prepared.data)
    if max_skip_fraction is None or total == 0 or skipped / total <= max_skip_fraction:
        return
    raise TooManySkippedError(
        f"{skipped} of {total} files ({skipped / total:.1%}) were skipped, more than "
        f"max_skip_fraction={max_skip_fraction:g}; the reasons are in "
        f"{prepared.folder / 'skipped.csv'}. Fix those files, or raise data.max_skip_fraction to "
        f"train without them (the prepared cache is kept)"
    )


def _open(folder: Path) -> PreparedArray:
    data = np.load(folder / "data.npy", mmap_mode="r")
    if len(data):
        index = pd.read_json(folder / "index.jsonl", orient="records", lines=True, dtype=False)
    else:  # zero JSON lines carry no column names; complete.json keeps them
        summary = json.loads((folder / "complete.json").read_text())
        index = pd.DataFrame(columns=summary.get("columns", ["path"]))
    skipped = pd.read_csv(folder / "skipped.csv", keep_default_na=False)
    return PreparedArray(data=data, index=index, skipped=skipped, folder=folder)
