"""One part of a store: a fixed slice of the sorted file list, prepared with no lock.

A part writes its litdata chunk files (`chunk-<part>-<i>.bin`, names no other part uses) into a
temporary folder of its own, renames them into the store, then writes its index entry and, last,
its result table `parts/<part>.parquet`: the table's presence is what "done" means. Preparation is
deterministic, so two tasks given the same part write the same bytes and a rename over a finished
file changes nothing. A task killed mid-part leaves its temporary folder, which a later run on the
same machine removes once the process that owned it is gone, and perhaps some of the part's chunk
files, which the rerun of the part writes again with the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from voxray.data.cache import SkipFile, atomic_write_bytes, owner_tag

if TYPE_CHECKING:
    from litdata.streaming.writer import BinaryWriter

CHUNK_BYTES = 64_000_000  # per chunk file: litdata's advice for streaming from object storage
FILES_PER_TASK = 32  # files a pool worker prepares per task: small enough to keep every core busy


def chunk_writer(folder: Path, part: int) -> BinaryWriter:
    """litdata's chunk writer, with the part's number where litdata puts the writing rank."""
    from litdata.streaming.writer import BinaryWriter  # only a preparing process pays for the import

    class PartWriter(BinaryWriter):
        @property
        def rank(self) -> int:
            return part

    return PartWriter(str(folder), chunk_bytes=CHUNK_BYTES)


def result_table(folder: Path, part: int) -> Path:
    """The file whose presence marks part `part` done."""
    return folder / "parts" / f"{part:05d}.parquet"


def part_index(folder: Path, part: int) -> Path:
    """The part's litdata chunk entries and writer config (JSON)."""
    return folder / "parts" / f"{part:05d}.index.json"


class InRoot:
    """A picklable loader of paths relative to the data root `root`: `load(root/path)`."""

    def __init__(self, load: Callable, root: Path) -> None:
        self.load, self.root = load, Path(root)

    def file(self, path: str) -> str:
        return os.path.join(self.root, path)

    def __call__(self, path: str) -> np.ndarray | tuple[np.ndarray, dict]:
        return self.load(self.file(path))


def load_files(
    load: Callable, paths: Sequence[str], shape: tuple[int, ...], dtype: str
) -> tuple[list[np.ndarray], list[dict]]:
    """Prepare `paths` (in a pool worker): the kept rows, and one manifest record per path, which keeps
    the path as given (relative to the data root for an `InRoot` loader, which reads and `stat`s the file)."""
    rows, records = [], []
    for path in paths:
        file = load.file(path) if isinstance(load, InRoot) else path
        try:
            out = load(path)
        except SkipFile as err:
            records.append({"path": path, "reason": str(err), "size": -1, "mtime_ns": -1})
            continue
        except Exception as err:
            err.add_note(f"while preparing {file} (rerun to retry; finished parts are kept)")
            raise
        arr, extra = out if isinstance(out, tuple) else (out, {})
        if arr.shape != shape:
            raise ValueError(f"the loader returned shape {arr.shape} for {file}, expected {shape}")
        size, mtime_ns = _stat(file)  # for `verify`: the file as it was when prepared
        rows.append(np.ascontiguousarray(arr, dtype=dtype).reshape(-1))
        records.append({"path": path, "reason": "", "size": size, "mtime_ns": mtime_ns, **extra})
    return rows, records


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:  # an input that is not a file of its own
        return -1, -1
    return st.st_size, st.st_mtime_ns


def _results(load: Callable, tasks: list[tuple[int, list[str]]], shape: tuple[int, ...], dtype: str,
             pool: Executor | None, window: int) -> Iterator[tuple[int, list[np.ndarray], list[dict]]]:
    """`load_files` over (part, paths) tasks, in order, as (part, rows, records); on the pool when one
    is given, with at most `window` tasks in flight, so that no worker idles while a part is written
    and no more results wait in memory than the workers can have made."""
    if pool is None:
        yield from ((k, *load_files(load, paths, shape, dtype)) for k, paths in tasks)
        return
    pending: deque[tuple[int, Future]] = deque()
    todo = iter(tasks)
    try:
        for k, paths in todo:
            pending.append((k, pool.submit(load_files, load, paths, shape, dtype)))
            if len(pending) >= window:
                break
        while pending:
            k, fut = pending.popleft()
            result = fut.result()
            for k_next, paths in todo:
                pending.append((k_next, pool.submit(load_files, load, paths, shape, dtype)))
                break
            yield (k, *result)
    except BaseException:
        for _, fut in pending:
            fut.cancel()
        raise


def prepare_parts(
    slices: dict[int, list[str]], load: Callable, shape: tuple[int, ...], dtype: str, folder: Path,
    pool: Executor | None, advance: Callable[[int], None], window: int = 1,
) -> None:
    """Prepare each part `k` of `slices` (its paths, in order) into `folder`, writing a part as soon
    as its last file is prepared; `advance(n)` after every n files."""
    tasks = [(k, paths[i : i + FILES_PER_TASK]) for k, paths in slices.items()
             for i in range(0, len(paths), FILES_PER_TASK)]
    left = {k: len(paths) for k, paths in slices.items()}
    parts: dict[int, _Part] = {}
    for k, rows, records in _results(load, tasks, shape, dtype, pool, window):
        if k not in parts:  # not setdefault: a new _Part clears the part's temporary folder
            parts[k] = _Part(k, folder)
        part = parts[k]
        part.add(rows, records)
        advance(len(records))
        left[k] -= len(records)
        if not left[k]:
            parts.pop(k).finish()


class _Part:
    """One part being written: its chunk writer in a temporary folder of this process, its records."""

    def __init__(self, part: int, folder: Path) -> None:
        self.part, self.folder = part, folder
        self.tmp = folder / f".part-{part:05d}{owner_tag()}"
        shutil.rmtree(self.tmp, ignore_errors=True)  # this process's own leftover (a retried part)
        self.writer, self.records, self.kept = chunk_writer(self.tmp, part), [], 0

    def add(self, rows: list[np.ndarray], records: list[dict]) -> None:
        for row in rows:
            self.writer[self.kept] = row
            self.kept += 1
        self.records += records

    def finish(self) -> None:
        """Move the chunk files into the store, then write the part's index and, last, its table."""
        part, folder, tmp, records = self.part, self.folder, self.tmp, self.records
        self.writer.done()
        index = {"chunks": [], "config": None}
        if (tmp / f"{part}.index.json").exists():
            index = json.loads((tmp / f"{part}.index.json").read_text())
        for chunk in index["chunks"]:
            os.replace(tmp / chunk["filename"], folder / chunk["filename"])
        atomic_write_bytes(part_index(folder, part), lambda p: p.write_text(json.dumps(index, sort_keys=True)))
        table = pd.DataFrame.from_records(records)
        for column in table.columns.difference(["path", "reason", "size", "mtime_ns"]):
            table[column] = pd.array([r.get(column) for r in records])  # nullable: ints stay ints beside skips
        kept = (table["reason"] == "").to_numpy()
        table.insert(1, "position", np.where(kept, np.cumsum(kept) - 1, -1))
        table.insert(1, "part", part)
        atomic_write_bytes(result_table(folder, part), lambda p: table.to_parquet(p, index=False))
        shutil.rmtree(tmp, ignore_errors=True)


def remove_dead_leftovers(folder: Path) -> None:
    """Remove temporary files and part folders whose process, on this machine, is gone.

    Another machine's, or a live process's, are left alone: it may still rename them."""
    for tmp in [*folder.glob(".*~*~*"), *folder.glob("parts/.*~*~*")]:
        _, host, pid, *_ = tmp.name.split("~")
        if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
