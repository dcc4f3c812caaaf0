"""Paths read from data tables, and a store's paths relative to the data root, stay inside the root."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from voxray.errors import UserError


def inside(root: str | Path, listed: str) -> str | None:
    """`root/listed` with `.` and `..` resolved, or None when `listed` is absolute or leaves `root`.

    The check is on the listed text, not on where links point: a symlink that whoever set up the
    data folder placed inside it (clips/ on another disk, a read-only mount) is followed, while a
    table can never name a file outside its root.

    Args:
        root: the data root, absolute.
        listed: the path as the table gives it.
    """
    if os.path.isabs(listed):
        return None
    path = os.path.normpath(os.path.join(root, listed))
    return path if os.path.commonpath([str(root), path]) == str(root) else None


# A path that is absolute or climbs out through `..`: never a store's path relative to its root.
_LEAVES = r"^/|(?:^|/)\.\.(?:/|$)"


def relative_to(root: Path, paths: Sequence[str]) -> pd.Series:
    """`paths` (under `root`, as a table reader gives them) relative to it, vectorised; a path that is
    not under `root` is a one-line `UserError` naming it.

    Args:
        root: the data root, absolute.
        paths: absolute paths.
    """
    paths = pd.Series(paths, dtype="str")
    prefix = str(root).rstrip(os.sep) + os.sep
    relative = paths.str.slice(len(prefix))
    outside = ~paths.str.startswith(prefix) | relative.str.contains(_LEAVES, regex=True)
    if outside.any():
        raise UserError(f"{paths[outside].iloc[0]} is not a plain path inside the data root {root} (no '..'): "
                        "a store keeps its paths relative to the root, so that it stays valid when the root moves")
    return relative


def under(root: Path, relative: pd.Series, source: Path) -> pd.Series:
    """A store's `relative` paths (read from `source`) joined to the data root `root`, vectorised; a path
    that is absolute or climbs out through `..` is a one-line `UserError` naming it and `source`."""
    relative = relative.astype("str")
    leaves = relative.str.contains(_LEAVES, regex=True)
    if leaves.any():
        raise UserError(f"{source} lists the path {relative[leaves].iloc[0]!r}, which leaves the data root "
                        f"(absolute or through '..'); a store's paths are relative to the root: prepare it again")
    return str(root).rstrip(os.sep) + os.sep + relative
