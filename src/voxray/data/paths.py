"""Paths read from data tables stay inside the data root."""

from __future__ import annotations

import os
from pathlib import Path


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
