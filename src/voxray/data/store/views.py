"""Each split's rows written once as a litdata dataset of its own, in the split's order: what a
streamed run reads (`voxray.data.store.stream`), from a local disk or from object storage.

Why a copy: litdata narrows a dataset only to one contiguous region per chunk file, and a split's
rows lie scattered over the store (sorted by file, split by speaker), so the store itself cannot be
streamed split by split. A view's item i is the store row of the split's position i, so the
position a streamed example carries is the one the DataModule's tables and the evaluation's
de-duplication use. Views are keyed by the store and the exact rows of every split; a finished
set of views has `views.json`, written last (locally and, after every other file, remotely).

Layout: <cache>/stream/<key>/<split>/{chunk-0-<i>.bin, index.json} and views.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from voxray.data.store.parts import chunk_writer
from voxray.data.store.rows import ChunkRows
from voxray.errors import UserError

VIEW_FORMAT = "split-views-1"  # bump when the layout above changes
ROWS_PER_READ = 256  # store rows copied per read: sequential within a chunk, bounded memory


def view_key(store: Path, splits: Mapping[str, np.ndarray]) -> str:
    """A key for the views of `splits` ({split: store rows, in order}) of the store in `store`."""
    digest = hashlib.sha256(f"{Path(store).name}|{VIEW_FORMAT}".encode())
    for split in sorted(splits):
        digest.update(split.encode() + np.ascontiguousarray(splits[split], dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


def write_views(rows: ChunkRows, splits: Mapping[str, np.ndarray], folder: Path) -> Path:
    """Write the views of `splits` from the store `rows` into `folder` (once; kept when finished)."""
    folder = Path(folder)
    if (folder / "views.json").exists():
        return folder
    empty = [split for split, split_rows in splits.items() if len(split_rows) == 0]
    if empty:  # litdata has no dataset of no rows
        raise UserError(f"data.stream=true: the {', '.join(empty)} split has no rows to stream; give it some "
                        "(data.val_fraction / data.test_fraction) or read at random (data.stream=false)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}~", dir=folder.parent))
    total = sum(len(r) for r in splits.values())
    with tqdm(total=total, desc="writing the split views for streaming", unit="row") as bar:
        for split, split_rows in splits.items():
            writer = chunk_writer(tmp / split, 0)
            for start in range(0, len(split_rows), ROWS_PER_READ):
                picked = np.asarray(split_rows[start : start + ROWS_PER_READ], dtype=np.int64)
                order = np.argsort(picked, kind="stable")  # read in store order, write in split order
                block = np.empty((len(picked), *rows.row_shape), dtype=rows.dtype)
                block[order] = rows[picked[order]]
                for i, row in enumerate(block):
                    writer[start + i] = np.ascontiguousarray(row).reshape(-1)
                bar.update(len(picked))
            writer.done()
            # the writer's own index is the whole split's (litdata's merge would wait for every DDP rank's)
            index = json.loads((tmp / split / "0.index.json").read_text())
            (tmp / split / "index.json").write_text(json.dumps({"chunks": index["chunks"], "config": index["config"]}))
            (tmp / split / "0.index.json").unlink()
    summary = {"format": VIEW_FORMAT, "store": Path(rows.folder).name, "shape": list(rows.row_shape),
               "dtype": rows.dtype.str, "rows": {s: len(r) for s, r in splits.items()}}
    (tmp / "views.json").write_text(json.dumps(summary, sort_keys=True))
    try:
        os.rename(tmp, folder)
    except OSError:  # another process finished the same views first: theirs are the same bytes
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / "views.json").exists():
            raise
    return folder


def read_summary(uri: str, storage_options: dict | None = None) -> dict | None:
    """The `views.json` of the views at `uri` (a folder or an object-storage URI), None if absent."""
    if "://" not in uri:
        path = Path(uri) / "views.json"
        return json.loads(path.read_text()) if path.exists() else None
    provider = _provider(uri, storage_options)
    if not provider.exists(f"{uri}/views.json"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        provider.download_file(f"{uri}/views.json", f"{tmp}/views.json")
        return json.loads(Path(tmp, "views.json").read_text())


def upload_views(folder: Path, uri: str, storage_options: dict | None = None) -> None:
    """Copy finished views to object storage at `uri`: chunk files, then each split's index, then
    `views.json` last, so that a reader never finds an index before its chunks."""
    folder = Path(folder)
    if read_summary(uri, storage_options) is not None:
        return
    provider = _provider(uri, storage_options)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "views.json")
    files.sort(key=lambda p: p.name == "index.json")  # chunks first
    for path in tqdm(files, desc=f"uploading the split views to {uri}", unit="file"):
        provider.upload_file(str(path), f"{uri}/{path.relative_to(folder).as_posix()}")
    provider.upload_file(str(folder / "views.json"), f"{uri}/views.json")


def _provider(uri: str, storage_options: dict | None):  # noqa: ANN202 (litdata's FsProvider)
    from litdata.streaming.fs_provider import _get_fs_provider

    try:
        return _get_fs_provider(uri, dict(storage_options or {}))
    except ValueError as err:
        raise UserError(f"data.stream_uri={uri}: {err}") from err

