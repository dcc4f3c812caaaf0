"""`best.ckpt`, the checkpoint a run tested, and what a loaded checkpoint says about its epoch.

`best.ckpt` is a hard link to the best epoch's `epoch_NNN.ckpt` (a copy where the file system has
no hard links): a regular file, so it survives moving or copying the run folder, tar, rsync and
object stores, where a symlink would dangle or be skipped; a hard link costs no space.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

BEST = "best.ckpt"


def publish(src: str | Path, dst: str | Path) -> None:
    """Make `dst` hold the bytes of `src` in one step: a hard link (or copy) made under a temporary
    name, then renamed over `dst`, so a reader sees the old file or the new one, never a partial one."""
    src, dst = Path(src), Path(dst)
    if dst.is_file() and os.path.samefile(src, dst):
        return
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:  # no hard links here (some network and FUSE file systems)
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def describe(path: str | Path, ckpt: dict) -> str:
    """One line: which epoch's weights a checkpoint holds, and the run's best checkpoint when it was saved."""
    epoch = ckpt.get("epoch", "?")
    line = f"loading {path}: the weights of epoch {epoch} (counted from 0, as in the epoch_NNN.ckpt names)"
    state = next((v for k, v in ckpt.get("callbacks", {}).items() if "Checkpoint" in k.split("{")[0]), None)
    if state and state.get("best_model_path"):
        line += f"; the run's best checkpoint by then: {Path(state['best_model_path']).name}"
    return line


def checkpoint_epoch(path: str | Path) -> int | None:
    """The epoch a checkpoint was saved at (memory-mapped: the weights are not read)."""
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("epoch")
