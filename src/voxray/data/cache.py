"""A one-time, parallel, resumable preparation step that turns files into one fixed-shape array.

Every input file becomes one row of a memory-mapped `.npy` array (waveforms for voice, images for
X-ray). Work is done in chunks; each finished chunk is written atomically, so an interrupted run
resumes at the first missing chunk. Files that cannot be prepared are skipped and listed with
their reason in `skipped.csv` — never dropped silently.

Folder layout (`<root>/<key>/`): `data.npy`, `index.jsonl` (one row per array row; JSON keeps ids
such as "0042" strings), `skipped.csv`, `complete.json` (written last: its presence means the cache
is whole).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

CHUNK = 128  # files per unit of resumable work: small enough to lose little on interrupt


class SkipFile(Exception):
    """Raised by a loader for an input that should be skipped with a reason (empty, too short...)."""


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
    """Call `write(tmp)` on a temporary sibling of `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
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
            arr, extra = out if isinstance(out, tuple) else (out, {})
            if arr.shape != shape:
                raise SkipFile(f"loader returned shape {arr.shape}, expected {shape}")
            rows.append(arr.astype(dtype, copy=False))
            kept.append(i)
            extras.append(extra)
        except Exception as err:  # noqa: BLE001 - any failure of one file is that file's skip reason
            reason = str(err) if isinstance(err, SkipFile) else f"{type(err).__name__}: {err}"
            skipped.append((path, reason))
    data = np.stack(rows) if rows else np.zeros((0, *shape), dtype)
    return data, kept, skipped, extras


def prepare_array(
    table: pd.DataFrame,
    load: Callable[[str], np.ndarray | tuple[np.ndarray, dict]],
    shape: tuple[int, ...],
    dtype: str,
    folder: str | Path,
    num_workers: int | None = None,
    desc: str = "preparing",
) -> PreparedArray:
    """Prepare every `table.path` into one row of a cached array, or load the cache if complete.

    Args:
        table: input rows; must have a `path` column. Rows that prepare are kept, in order.
        load: picklable function path -> array of `shape` (optionally with a dict of extra index
            columns, e.g. the clip's duration); raise `SkipFile` (or anything) to skip the file.
        shape: shape of one prepared row.
        dtype: numpy dtype of the stored array.
        folder: cache folder for this exact input and parameter set (see `cache_key`).
        num_workers: processes; None = all cores, 0 = in this process (debugging).
        desc: progress-bar label.
    """
    folder = Path(folder)
    done = folder / "complete.json"
    if done.exists():
        return _open(folder)
    paths = table["path"].astype(str).tolist()
    chunks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
    parts = folder / "parts"
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

    bar = tqdm(total=len(paths), desc=desc, unit="file", initial=(len(chunks) - len(todo)) * CHUNK)
    if num_workers == 0:
        for c in todo:
            save(c, _run_chunk(load, chunks[c], shape, dtype))
            bar.update(len(chunks[c]))
    else:
        with ProcessPoolExecutor(max_workers=num_workers or os.cpu_count()) as pool:
            futures = {c: pool.submit(_run_chunk, load, chunks[c], shape, dtype) for c in todo}
            for c, fut in futures.items():
                save(c, fut.result())
                bar.update(len(chunks[c]))
    bar.close()
    return _assemble(table, chunks, shape, dtype, folder)


def _assemble(
    table: pd.DataFrame, chunks: list[list[str]], shape: tuple[int, ...], dtype: str, folder: Path
) -> PreparedArray:
    """Join the chunk files into data.npy + index.jsonl + skipped.csv, then mark complete."""
    part_files = [folder / "parts" / f"{c:05d}.npz" for c in range(len(chunks))]
    rows, skipped, extras = [], [], []
    for c, f in enumerate(part_files):  # first pass: the small fields only
        with np.load(f) as z:
            rows += [c * CHUNK + int(i) for i in z["kept"]]
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
    summary = {"rows": len(rows), "skipped": len(skip_df), "shape": list(shape), "dtype": dtype}
    atomic_write_bytes(folder / "complete.json", lambda p: p.write_text(json.dumps(summary)))
    for f in part_files:
        f.unlink()
    (folder / "parts").rmdir()
    return _open(folder)


def _open(folder: Path) -> PreparedArray:
    data = np.load(folder / "data.npy", mmap_mode="r")
    index = pd.read_json(folder / "index.jsonl", orient="records", lines=True, dtype=False)
    skipped = pd.read_csv(folder / "skipped.csv", keep_default_na=False)
    return PreparedArray(data=data, index=index, skipped=skipped, folder=folder)
