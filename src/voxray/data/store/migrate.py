"""A cache prepared by an earlier voxray becomes a store once, without decoding any file again.

Earlier caches were one folder per file list: `data.npy` (a row per prepared file), `index.jsonl`
(its path and extra columns), `skipped.csv` and `complete.json`, keyed by each file's size and
modification time. Finding one costs that `stat` per file again, once, when a store is missing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voxray.data.cache import SkipFile, cache_key


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
