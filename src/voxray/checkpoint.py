"""A run's checkpoint files: reading one back (its run config, its model), `best.ckpt`, and the newest
ones that exist, named when a command is given a path that is not a file.

torch is imported only where a checkpoint is read, so the CLI's checks use this module before it loads.

`best.ckpt` is a hard link to the best epoch's `epoch_NNN.ckpt` (a copy where the file system has
no hard links): a regular file, so it survives moving or copying the run folder, tar, rsync and
object stores, where a symlink would dangle or be skipped; a hard link costs no space.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from voxray.errors import CKPT_EXAMPLE, RESUME_EXAMPLE, UserError

if TYPE_CHECKING:
    import lightning as L

    from voxray.data.datamodule import ArrayDataModule

log = logging.getLogger(__name__)
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
    import torch

    return torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("epoch")


def load_run(ckpt_path: str | Path) -> tuple[dict, DictConfig]:
    """Read a voxray checkpoint safely (weights_only=True) and log which epoch's weights it holds;
    returns (checkpoint, its run config)."""
    import torch

    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        # torch's first sentence says what failed; the rest suggests an unsafe load, which we never do
        first = str(err).strip().split(". ")[0].splitlines()[0].rstrip(".") if str(err).strip() else type(err).__name__
        raise UserError(f"{path} cannot be read as a checkpoint with weights_only=True ({first}); "
                        f"pass one that train.py wrote, e.g. {CKPT_EXAMPLE}") from err
    if not isinstance(ckpt, dict) or "voxray" not in ckpt or not ckpt["voxray"].get("config"):
        raise UserError(f"{path} is not a voxray checkpoint (no stored run config); "
                        f"pass one that train.py wrote, e.g. {CKPT_EXAMPLE}")
    log.info(describe(path, ckpt))  # eval, predict and export say which weights they use
    return ckpt, OmegaConf.create(ckpt["voxray"]["config"])


def build_data(data: DictConfig | dict) -> ArrayDataModule:
    """The run's DataModule for single files: its `loader()`, `example_input()` and `preparation()`.

    Args:
        data: the run's `data` config (a checkpoint's `run_cfg.data`, or model.json's `data`); its
            root, cache and report folders are not used.
    """
    data = OmegaConf.merge(OmegaConf.create(dict(data)), {"root": None, "report_dir": None})
    return instantiate(data, cache_dir=tempfile.gettempdir())


def build_model(ckpt: dict, run_cfg: DictConfig) -> L.LightningModule:
    """The run's LightningModule with the checkpoint's weights (class weights and threshold too).

    The network is built without its pretrained weights: the checkpoint's replace them, so a model
    fine-tuned from hub or file weights is rebuilt offline, without that file.
    """
    net = run_cfg.model.net
    no_fetch = {k: v for k, v in (("pretrained", False), ("weights", None)) if k in net}
    model = instantiate(OmegaConf.merge(run_cfg.model, {"net": no_fetch}))
    model.on_load_checkpoint(ckpt)  # as Lightning does before the weights: what the checkpoint adds
    model.load_state_dict(ckpt["state_dict"])
    model.run_config = OmegaConf.to_container(run_cfg)
    return model


def check_resume(cfg: DictConfig) -> None:
    """train.py's `ckpt_path` is a checkpoint to resume training from, and exists.

    `train()` builds the network from the composed config and reads a checkpoint only to resume:
    with `train=false` it would test the untrained network. `eval.py` tests a checkpoint with the
    model and data settings stored in it.
    """
    if not cfg.get("ckpt_path"):
        return
    if not cfg.get("train", True):
        raise UserError(
            f"train=false with ckpt_path={cfg.ckpt_path} would test this config's untrained network, not the "
            f"checkpoint; to test a checkpoint run eval.py ckpt_path={cfg.ckpt_path}"
        )
    if not Path(cfg.ckpt_path).expanduser().is_file():
        hint = newest(cfg, "last.ckpt") or f"resume from a run's {RESUME_EXAMPLE}"
        raise UserError(f"ckpt_path={cfg.ckpt_path} is not a file; {hint}")


def newest(cfg: DictConfig, name: str, n: int = 3) -> str:
    """`the newest <name> files under outputs: a, b, c` (the runs' folder, paths.log_dir), or "" if none."""
    try:
        log_dir = OmegaConf.select(cfg, "paths.log_dir")
    except OmegaConfBaseException:  # an interpolation not resolvable here: the example instead of a list
        return ""
    if not log_dir or not Path(log_dir).is_dir():
        return ""
    found = sorted((p for p in Path(log_dir).rglob(name) if p.parent.name == "checkpoints"),
                   key=lambda p: p.stat().st_mtime, reverse=True)[:n]
    return f"the newest {name} files under {_shown(Path(log_dir))}: {', '.join(map(_shown, found))}" if found else ""


def _shown(path: Path) -> str:
    """`path` relative to the working folder when it lies inside it (as a user would type it)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
