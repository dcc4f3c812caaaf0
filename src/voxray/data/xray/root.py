"""Is a folder given as `data.root` a chest X-ray set? The reader's own layout detection, checked
before torch is imported (reads no image)."""

from __future__ import annotations

import os
from pathlib import Path

from voxray.errors import UserError


def check_xray_root(root: str) -> None:
    """A chest X-ray layout at `root` (the same detection the reader uses; reads no image)."""
    path = Path(root).expanduser()
    if not path.exists():
        raise UserError(
            f"data.root={root} does not exist; point it at a chest X-ray folder (Kermany chest_xray, "
            "COVID-19 Radiography Database) or a manifest.csv, or leave data.root out for the synthetic set"
        )
    from voxray.data.xray.layouts import detect_layout  # pandas, no torch

    try:
        detect_layout(Path(os.path.abspath(path)))
    except (ValueError, FileNotFoundError) as err:
        raise UserError(f"data.root={root}: {err}") from err


def xray_layout(path: Path) -> str | None:
    """The chest X-ray layout the X-ray reader finds at `path` (kermany, radiography, manifest), or None."""
    from voxray.data.xray.layouts import detect_layout  # pandas, no torch

    try:
        return detect_layout(Path(os.path.abspath(path)))[0]
    except (ValueError, FileNotFoundError):
        return None
