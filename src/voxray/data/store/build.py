"""Prepare a store part by part, complete it once every part is done, and open it.

Store folder (`<cache>/prepared/<key>/`; the key hashes the file list and the preparation, so no
file needs a `stat` to find it):
  plan.json               the file list's hash, part size, number of parts, row shape and dtype
  chunk-<part>-<i>.bin    litdata chunk files: one fixed-size row per prepared file
  parts/<part>.parquet    a part's result table (its presence: the part is done), <part>.index.json
  manifest.parquet        one row per listed file: path, part, position, row (-1: skipped), reason,
                          size, mtime_ns (as prepared) and the loader's extra columns
  index.json              litdata's index of every chunk: what `litdata.StreamingDataset` reads
  skipped.csv             path and reason of every skipped file
  store.json              the summary, written last: its presence means the store is complete

A store of a data root keeps its paths relative to the root (`clips/x.mp3`), and its key hashes
those: a root moved or mounted elsewhere (another node) finds the same store, whose paths are
joined to the root it is opened with. The root it was prepared from is in store.json (`root`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from voxray.data.cache import PreparedArray, atomic_write_bytes, available_cpus, check_skips, exit_with
from voxray.data.paths import relative_to, under
from voxray.data.store.parts import InRoot, part_index, prepare_parts, remove_dead_leftovers, result_table
from voxray.data.store.rows import ChunkRows, ShardError
from voxray.errors import UserError

STORE_FORMAT = "litdata-chunks-2"  # bump when the layout above changes (migrate.py converts the one before)
PART_SIZE = 2048  # files per part: the unit of distribution and of work lost to a kill
RECORD_COLUMNS = ("path", "part", "position", "reason", "size", "mtime_ns")
log = logging.getLogger(__name__)


def files_key(paths: Sequence[str]) -> str:
    """A hash of a file list, vectorised (no Python per path)."""
    hashes = pd.util.hash_pandas_object(pd.Series(list(paths), dtype=object), index=False)
    return hashlib.sha256(hashes.to_numpy().tobytes()).hexdigest()[:16]


def is_complete(folder: Path) -> bool:
    return (Path(folder) / "store.json").exists()


def prepare_store(
    table: pd.DataFrame, load: Callable, shape: tuple[int, ...], dtype: str, folder: str | Path,
    num_workers: int | None = None, desc: str = "preparing", part_size: int = PART_SIZE,
    max_skip_fraction: float | None = None, task: tuple[int, int] | None = None, root: Path | None = None,
) -> PreparedArray | None:
    """Prepare every `table.path` into one row of the store in `folder`, or open it if complete.

    Args:
        table: input rows with a `path` column; rows that prepare are kept, in this order.
        load: picklable `path -> array of shape` (or `(array, {extra columns})`); raises `SkipFile`
            to skip a file with its reason; any other exception stops the run, file named.
        shape, dtype: one row's shape and numpy dtype.
        folder: the store folder for this exact file list and preparation.
        num_workers: processes; None = every CPU this job was given, 0 = in this process.
        desc: progress-bar label.
        part_size: files per part (PART_SIZE).
        max_skip_fraction: raise `TooManySkippedError` when a larger share was skipped (the store
            is kept); None = no limit.
        task: (K, N): prepare only the parts K, K + N, K + 2N, ... (task K of N); None = all.
        root: the data root, absolute, that every path lies under: the store keeps the paths relative
            to it, and the index and skip list returned give them under it. None: paths as given.
    Returns:
        the store, or None when parts prepared elsewhere are still missing.
    """
    if max_skip_fraction is not None and not 0.0 <= max_skip_fraction <= 1.0:
        raise ValueError(f"max_skip_fraction must be in [0, 1] or None, got {max_skip_fraction}")
    if part_size < 1:
        raise ValueError(f"part_size must be a positive number of files, got {part_size}")
    folder = Path(folder)
    if not is_complete(folder):
        paths = table["path"].astype(str).tolist() if root is None else relative_to(root, table["path"]).tolist()
        load = load if root is None else InRoot(load, root)
        n_parts = _write_plan(folder, paths, part_size, shape, dtype)
        remove_dead_leftovers(folder)
        mine = range(n_parts) if task is None else range(task[0], n_parts, task[1])
        todo = [k for k in mine if not result_table(folder, k).exists()]
        if len(todo) < len(mine):
            print(f"{desc}: resuming, {len(mine) - len(todo)}/{len(mine)} parts already done", flush=True)
        slices = {k: paths[k * part_size : (k + 1) * part_size] for k in todo}
        _prepare_parts(slices, load, shape, dtype, folder, num_workers, desc)
        missing = [k for k in range(n_parts) if not result_table(folder, k).exists()]
        if missing:
            return None
        complete(folder, root)
    prepared = open_store(folder, root)
    check_skips(len(prepared.skipped), len(prepared.data), folder, max_skip_fraction)
    return prepared


def _write_plan(folder: Path, paths: list[str], part_size: int, shape: tuple[int, ...], dtype: str) -> int:
    """Write plan.json, or check that the one there is this plan; returns the number of parts."""
    plan = {"format": STORE_FORMAT, "files": len(paths), "files_key": files_key(paths),
            "part_size": part_size, "parts": max(1, -(-len(paths) // part_size)),
            "shape": list(shape), "dtype": str(np.dtype(dtype))}
    path = folder / "plan.json"
    if path.exists():
        found = json.loads(path.read_text())
        if found != plan:
            differ = sorted(k for k in plan if found.get(k) != plan[k])
            raise UserError(f"{path} was planned with other {', '.join(differ)} ({[found.get(k) for k in differ]} "
                            f"there, {[plan[k] for k in differ]} now); give the same settings, or delete {folder}")
    else:  # every task writes the same bytes, so concurrent writers agree
        atomic_write_bytes(path, lambda p: p.write_text(json.dumps(plan, sort_keys=True)))
    return plan["parts"]


def _prepare_parts(slices: dict[int, list[str]], load: Callable, shape: tuple[int, ...], dtype: str,
                   folder: Path, num_workers: int | None, desc: str) -> None:
    total = sum(len(s) for s in slices.values())
    if not total:
        return
    workers = available_cpus() if num_workers is None else num_workers
    rate = _RateLog(desc, total)
    with tqdm(total=total, desc=desc, unit="file") as bar:
        def advance(n: int) -> None:
            bar.update(n)
            rate.advance(n)

        if workers == 0:
            prepare_parts(slices, load, shape, dtype, folder, None, advance)
            return
        with ProcessPoolExecutor(workers, initializer=exit_with, initargs=(os.getpid(),)) as pool:
            try:
                prepare_parts(slices, load, shape, dtype, folder, pool, advance, window=2 * workers)
            except BaseException:
                pool.shutdown(cancel_futures=True)  # stop now rather than finish the queue
                raise


class _RateLog:
    """A log line per minute: files done, files/s and the time left at that rate."""

    def __init__(self, desc: str, total: int, every: float = 60.0) -> None:
        self.desc, self.total, self.every = desc, total, every
        self.done, self.start = 0, time.monotonic()
        self.last = self.start

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            rate = self.done / (now - self.start)
            left = (self.total - self.done) / rate if rate else float("inf")
            log.info(f"{self.desc}: {self.done}/{self.total} files, {rate:.1f} files/s, "
                     f"about {left / 60:.0f} min left")


def complete(folder: Path, root: Path | None = None) -> None:
    """Check every part and its chunk files, then write the manifest, index and store.json (with
    `root`, the data root the paths are relative to, where it was prepared; None: paths as given).

    Raises a one-line `UserError` naming the first missing part or bad chunk; deletes nothing."""
    plan = json.loads((folder / "plan.json").read_text())
    tables, chunks, config = [], [], None
    for k in range(plan["parts"]):
        if not result_table(folder, k).exists():
            raise UserError(f"store {folder} lacks part {k} ({result_table(folder, k).name} is missing): "
                            f"run prepare.py again with the same data settings to prepare it")
        index = json.loads(part_index(folder, k).read_text())
        table = pd.read_parquet(result_table(folder, k))
        kept = int((table["position"] >= 0).sum())
        if kept != sum(c["chunk_size"] for c in index["chunks"]):
            raise ShardError(f"{result_table(folder, k)} lists {kept} rows, its chunks hold "
                             f"{sum(c['chunk_size'] for c in index['chunks'])}: delete it to prepare part {k} again")
        tables.append(table)
        chunks += index["chunks"]
        config = config or index["config"]
    rows = ChunkRows(folder, chunks, tuple(plan["shape"]), plan["dtype"])  # checks every chunk file
    manifest = pd.concat(tables, ignore_index=True)
    if len(manifest) != plan["files"]:
        raise ShardError(f"the parts of {folder} list {len(manifest)} files, its plan {plan['files']}")
    kept = (manifest["position"] >= 0).to_numpy()
    manifest.insert(3, "row", np.where(kept, np.cumsum(kept) - 1, -1))
    skipped = manifest.loc[~kept, ["path", "reason"]]
    if chunks:
        atomic_write_bytes(folder / "index.json",
                           lambda p: p.write_text(json.dumps({"chunks": chunks, "config": config}, sort_keys=True)))
    atomic_write_bytes(folder / "manifest.parquet", lambda p: manifest.to_parquet(p, index=False))
    atomic_write_bytes(folder / "skipped.csv", lambda p: skipped.to_csv(p, index=False))
    extras = [c for c in manifest.columns if c not in (*RECORD_COLUMNS, "row")]
    summary = {**plan, "rows": len(rows), "skipped": len(skipped), "extra_columns": extras,
               "root": None if root is None else str(root)}
    atomic_write_bytes(folder / "store.json", lambda p: p.write_text(json.dumps(summary, sort_keys=True)))


def _summary(folder: Path) -> dict:
    summary = json.loads((folder / "store.json").read_text())
    if summary.get("format") != STORE_FORMAT:
        raise UserError(f"{folder / 'store.json'} is a store of format {summary.get('format')!r}, "
                        f"this code reads {STORE_FORMAT!r}; prepare it again (prepare.py)")
    return summary


def open_rows(folder: str | Path) -> ChunkRows:
    """A complete store's rows alone: what a training process needs, without the manifest."""
    folder = Path(folder)
    summary = _summary(folder)
    chunks = json.loads((folder / "index.json").read_text())["chunks"] if summary["rows"] else []
    return ChunkRows(folder, chunks, tuple(summary["shape"]), summary["dtype"])


def open_store(folder: str | Path, root: Path | None = None) -> PreparedArray:
    """A complete store: its rows, the index of kept files (path + extra columns, in row order)
    and the skip list, their paths joined to the data root `root` (None: as the store keeps them).
    Raises a one-line error when its files do not belong together, or a path leaves the root."""
    folder = Path(folder)
    summary, data = _summary(folder), open_rows(folder)
    manifest = pd.read_parquet(folder / "manifest.parquet")
    if len(manifest) != summary["files"] or files_key(manifest["path"]) != summary["files_key"]:
        raise ShardError(f"{folder / 'manifest.parquet'} lists other files than {folder / 'store.json'} "
                         "(a manifest copied from another store?); prepare the store again")
    if root is not None:
        manifest["path"] = under(root, manifest["path"], folder / "manifest.parquet")
    kept = manifest[manifest["row"] >= 0].sort_values("row")
    index = kept[["path", *summary["extra_columns"]]].reset_index(drop=True)
    for column in summary["extra_columns"]:  # no missing values among kept rows: plain numpy dtypes
        dtype = index[column].dtype
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and hasattr(dtype, "numpy_dtype"):
            index[column] = index[column].to_numpy(dtype=dtype.numpy_dtype)
    skipped = manifest.loc[manifest["row"] < 0, ["path", "reason"]].reset_index(drop=True)
    return PreparedArray(data=data, index=index, skipped=skipped, folder=folder)
