"""`data.verify=true`: check that every prepared file is still the file the store was made from."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from voxray.data.paths import under
from voxray.errors import UserError

EXAMPLES = 5


def verify_store(folder: Path, root: Path | None = None) -> None:
    """Raise a UserError naming the files whose size or modification time differ from the manifest's
    (or that are gone); files that were skipped, or that are not files of their own, are not checked.
    The manifest's paths are relative to the data root `root` (None: the root it was prepared from)."""
    manifest = pd.read_parquet(Path(folder) / "manifest.parquet", columns=["path", "size", "mtime_ns"])
    checked = manifest[manifest["size"] >= 0]
    root = root or json.loads((Path(folder) / "store.json").read_text()).get("root")
    if root is not None:
        checked = checked.assign(path=under(Path(root), checked["path"], Path(folder) / "manifest.parquet"))
    changed = []
    for path, size, mtime_ns in zip(checked["path"], checked["size"], checked["mtime_ns"]):
        try:
            st = os.stat(path)
        except OSError as err:
            changed.append(f"{path} ({err.strerror.lower()})")
            continue
        if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
            changed.append(f"{path} (size or time changed)")
    if changed:
        shown = "; ".join(changed[:EXAMPLES]) + (" ..." if len(changed) > EXAMPLES else "")
        raise UserError(f"{len(changed)} of {len(checked)} prepared files differ from the store {folder}: {shown}; "
                        f"delete {folder} to prepare them again")
