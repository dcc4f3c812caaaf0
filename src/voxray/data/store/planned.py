"""The planned rows of a data configuration, merged with its store once and saved beside it.

Reading a Common Voice release's tables, mapping labels, splitting speakers and matching every
clip with its store row costs seconds and gigabytes per million rows. The process that prepares
does it once and saves the result (`<cache>/plans/<key>.parquet` + `.json`, the JSON written last);
every training process, DDP rank or rerun with the same settings then reads only that table.
The key is the DataModule's `plan_key()`: its settings and the size and time of its table files,
so an edited table plans again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from voxray.data.cache import PreparedArray, atomic_write_bytes
from voxray.data.dataset import Plan
from voxray.data.paths import under
from voxray.data.store.build import STORE_FORMAT


@dataclass
class PlannedRows:
    """The plan's rows that prepared: `table` has a `row` column (the store row) and the loader's
    extra columns; `skipped` counts the files the store left out."""

    table: pd.DataFrame
    report: dict
    group_name: str
    folder: Path  # the store
    skipped: int
    root: Path | None = None  # the data root the store's paths are relative to (the table's are under it)


def merge_rows(plan: Plan, prepared: PreparedArray) -> PlannedRows:
    """Match the plan's rows with their store rows; a row whose file was skipped is left out."""
    rows = prepared.index.copy()
    rows["row"] = np.arange(len(rows))
    table = plan.table.merge(rows, on="path", how="inner", validate="many_to_one")
    return PlannedRows(table, plan.report, plan.group_name, prepared.folder, len(prepared.skipped), plan.root)


def skipped_files(planned: PlannedRows) -> pd.DataFrame:
    """The store's skip list (path, reason), its paths under the data root of `planned`."""
    source = planned.folder / "skipped.csv"
    skipped = pd.read_csv(source, dtype=str, keep_default_na=False)
    if planned.root is not None:
        skipped["path"] = under(planned.root, skipped["path"], source)
    return skipped


def _files(cache_dir: Path, key: str) -> tuple[Path, Path]:
    folder = Path(cache_dir) / "plans"
    return folder / f"{key}.parquet", folder / f"{key}.json"


def save_planned(cache_dir: Path, key: str, planned: PlannedRows) -> None:
    """Write the rows (text columns other than the path as categories: a million rows hold a few
    thousand speakers and a handful of labels), then the JSON that marks them complete."""
    table_file, meta_file = _files(cache_dir, key)
    table = planned.table.copy()
    for column in table.columns.drop("path"):
        if pd.api.types.is_string_dtype(table[column]) and not isinstance(table[column].dtype, pd.CategoricalDtype):
            table[column] = table[column].astype("category")
    atomic_write_bytes(table_file, lambda p: table.to_parquet(p, index=False))
    meta = {"report": planned.report, "group_name": planned.group_name, "store": str(planned.folder),
            "skipped": planned.skipped, "root": None if planned.root is None else str(planned.root)}
    atomic_write_bytes(meta_file, lambda p: p.write_text(json.dumps(meta, default=int)))


def load_planned(cache_dir: Path, key: str, need_store: bool = True) -> PlannedRows | None:
    """The saved rows of `key`, or None when there are none (or their store is gone, when `need_store`,
    or of a format before this one: the preparation converts it into a store of its own). A streamed
    run reads copies of the store's splits, not the store: its node may hold none."""
    table_file, meta_file = _files(cache_dir, key)
    if not meta_file.exists():
        return None
    meta = json.loads(meta_file.read_text())
    summary = Path(meta["store"]) / "store.json"
    if summary.exists() and json.loads(summary.read_text()).get("format") != STORE_FORMAT:
        return None
    if need_store and not summary.exists():
        return None
    table, root = read_table(table_file), meta.get("root")
    return PlannedRows(table, meta["report"], meta["group_name"], Path(meta["store"]), meta["skipped"],
                       None if root is None else Path(root))


def read_table(path: Path) -> pd.DataFrame:
    """A saved table, its plain text columns as `string[pyarrow]` (the paths, all distinct: one Arrow
    buffer instead of a Python string per row), read for the least memory: a column at a time from
    the memory-mapped file, into Arrow's system allocator. Arrow's default, mimalloc, keeps the
    arenas of a read after it, where no later pandas or numpy array can reuse them."""
    import pyarrow.parquet as pq  # imported by the processes that read a table only

    text = {pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow")}.get
    default = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())  # global: for the read only
    try:
        with pq.ParquetFile(path, memory_map=True) as source:
            columns = {name: source.read([name], use_threads=False)
                       .to_pandas(types_mapper=text, use_threads=False)[name] for name in source.schema_arrow.names}
    finally:
        pa.set_memory_pool(default)
    return pd.DataFrame(columns, copy=False)
