"""A DataModule's plan -> its store: the folder its key names, its preparation, its conversion."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from lightning.pytorch.utilities import rank_zero_info

from voxray.data.cache import PreparedArray, cache_key
from voxray.data.dataset import Plan
from voxray.data.paths import relative_to
from voxray.data.store.build import STORE_FORMAT, files_key, is_complete, prepare_store
from voxray.data.store.migrate import LegacyRows, absolute_store, convert_store, legacy_cache


def plan_files(plan: Plan) -> list[str]:
    """Every file the plan prepares, sorted: the store's row order."""
    return sorted(set(plan.table["path"]).union(plan.files or []))


def plan_store(cache_dir: Path, plan: Plan) -> Path:
    """The store of the plan's files and preparation. The key hashes the file list relative to the
    data root (a moved root keeps its store), not the files' contents (no `stat` per file);
    `data.verify=true` checks sizes and times when asked."""
    files = plan_files(plan) if plan.root is None else relative_to(plan.root, plan_files(plan))
    key = cache_key(files_key(files), plan.key_parts, plan.shape, plan.dtype, STORE_FORMAT)
    return Path(cache_dir) / "prepared" / key


def prepare_plan(
    plan: Plan, cache_dir: Path, *, num_workers: int | None, part_size: int, max_skip_fraction: float | None,
    task: tuple[int, int] | None, desc: str, in_training: bool,
) -> PreparedArray | None:
    """`prepare_store` for the plan (see there); a store or cache of an earlier version for the same
    files is converted once instead, and a training job that prepares says once what prepare.py is for."""
    folder, files, load = plan_store(cache_dir, plan), plan_files(plan), plan.load
    if not is_complete(folder) and not (folder / "plan.json").exists():
        earlier = None if plan.root is None else absolute_store(cache_dir, files, plan.key_parts, plan.shape,
                                                                plan.dtype)
        legacy = None if earlier else legacy_cache(cache_dir, files, plan.key_parts, plan.shape, plan.dtype)
        if earlier is not None:
            rank_zero_info(f"converting the store {earlier} of an earlier version (absolute paths) into the store "
                           f"{folder}, once: no file is decoded again, the chunk files are linked")
            convert_store(earlier, folder, plan.root)
        elif legacy is not None:
            rank_zero_info(f"converting the cache {legacy} of an earlier version into the store {folder}, "
                           "once: no file is decoded again")
            load = LegacyRows(legacy)
        elif in_training and task is None:
            rank_zero_info(f"preparing {len(files)} files in the training job; for a large set, run "
                           "`python prepare.py` first (every CPU of a machine, or a SLURM array: docs/clusters.md)")
    return prepare_store(pd.DataFrame({"path": files}), load, plan.shape, plan.dtype, folder,
                         num_workers=num_workers, desc=desc, part_size=part_size,
                         max_skip_fraction=max_skip_fraction, task=task, root=plan.root)
