"""A cache or store prepared by an earlier voxray becomes a store once, without decoding any file again.

Stores of the format before (`litdata-chunks-1`) kept absolute paths, and their key hashed them:
such a store of exactly this plan's files is converted into this format, its chunk files
hard-linked (copied where the cache spans file systems) and its paths made relative to the root.
Caches before the store were one folder per file list: `data.npy` (a row per prepared file),
`index.jsonl` (its path and extra columns), `skipped.csv` and `complete.json`, keyed by each file's
size and modification time. Finding one costs that `stat` per file again, once, when a store is missing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voxray.data.cache import SkipFile, atomic_write_bytes, cache_key
from voxray.data.paths import relative_to
from voxray.data.store.build import STORE_FORMAT, complete, files_key
from voxray.data.store.parts import part_index, result_table

ABSOLUTE_FORMAT = "litdata-chunks-1"  # the store format whose paths were absolute


def absolute_store(cache_dir: Path, files: Sequence[str], key_parts: list, shape: tuple[int, ...],
                   dtype: str) -> Path | None:
    """The complete store of the format before of exactly these files (absolute) and this preparation."""
    folder = Path(cache_dir) / "prepared" / cache_key(files_key(files), key_parts, shape, dtype, ABSOLUTE_FORMAT)
    return folder if (folder / "store.json").exists() else None


def convert_store(earlier: Path, folder: Path, root: Path) -> None:
    """Make `folder` a complete store of the rows of `earlier` (of the format before), its paths
    relative to the data root `root`. Every task may run it at once: each writes the same bytes,
    and plan.json, written after every part, lets an interrupted conversion start again."""
    plan, paths = json.loads((earlier / "plan.json").read_text()), []
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(plan["parts"]):
        index = part_index(earlier, k).read_text()
        for chunk in json.loads(index)["chunks"]:
            _link(earlier / chunk["filename"], folder / chunk["filename"])
        table = pd.read_parquet(result_table(earlier, k))
        table["path"] = relative_to(root, table["path"])
        paths += table["path"].tolist()
        atomic_write_bytes(part_index(folder, k), lambda p, text=index: p.write_text(text))
        atomic_write_bytes(result_table(folder, k), lambda p, t=table: t.to_parquet(p, index=False))
    plan |= {"format": STORE_FORMAT, "files_key": files_key(paths)}
    atomic_write_bytes(folder / "plan.json", lambda p: p.write_text(json.dumps(plan, sort_keys=True)))
    complete(folder, root)


def _link(source: Path, target: Path) -> None:
    """`target` as a hard link to `source`: no space, no copy; a copy where links cannot cross."""
    try:
        os.link(source, target)
    except FileExistsError:  # linked by another task, or a conversion before
        pass
    except OSError:
        atomic_write_bytes(target, lambda p: shutil.copyfile(source, p))


def legacy_cache(cache_dir: Path, files: Sequence[str], key_parts: list, shape: tuple[int, ...],
                 dtype: str) -> Path | None:
    """The complete earlier cache of exactly these files and this preparation, if there is one."""
    folder = Path(cache_dir) / "prepared" / cache_key([(p, *_stat(p)) for p in files], key_parts, shape, dtype)
    return folder if (folder / "complete.json").exists() else None


class LegacyRows:
    """A picklable loader for `prepare_store`: a file's row (and extra columns) as the earlier cache
    holds it, or `SkipFile` with the reason it recorded. Each process reads the cache once."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._rows: dict[str, tuple[int, dict]] | None = None

    def _load(self) -> None:
        lines = (self.folder / "index.jsonl").read_text().splitlines()
        self._rows = {}
        for i, line in enumerate(lines):
            record = json.loads(line)
            self._rows[record.pop("path")] = (i, record)
        skipped = pd.read_csv(self.folder / "skipped.csv", keep_default_na=False)
        self._skipped = dict(zip(skipped["path"], skipped["reason"]))
        self._data = np.load(self.folder / "data.npy", mmap_mode="r")

    def __call__(self, path: str) -> tuple[np.ndarray, dict]:
        if self._rows is None:
            self._load()
        if path in self._skipped:
            raise SkipFile(self._skipped[path])
        if path not in self._rows:
            raise KeyError(f"{path} is not in the earlier cache {self.folder}")
        row, extras = self._rows[path]
        return np.array(self._data[row]), extras

    def __getstate__(self) -> dict:
        return {"folder": self.folder, "_rows": None}


def _stat(path: str) -> tuple[int, int]:
    """What the earlier key hashed of a file: size and whole-second mtime; (-1, -1) when missing."""
    try:
        st = Path(path).stat()
        return st.st_size, int(st.st_mtime)
    except OSError:
        return -1, -1
