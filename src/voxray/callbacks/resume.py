"""A resumed run is the same run: `last.ckpt` after every epoch, seeds per batch, the same folder."""

from __future__ import annotations

import logging
import os
import random
import shlex
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, open_dict
from typing_extensions import override

from voxray.checkpoint import BEST, publish
from voxray.data.samplers import epoch_seed

log = logging.getLogger(__name__)


class RunCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` whose `last.ckpt` holds the last completed epoch, always.

    Lightning 2.6 rewrites `last.ckpt` only in a step where a top-k checkpoint was saved, i.e. when
    the monitored metric improved: a resume from it would repeat every epoch since the last
    improvement. Here `last.ckpt` is written after each validation as well, and `best.ckpt` beside
    it always holds the best checkpoint (`best_model_path`), the one a run tests and deploys.

    A run folder may move (copied to another disk, mounted at another path on another node):
    resumed from a checkpoint in its own `checkpoints/` folder, the paths the state recorded
    (best, top-k, last) are read as the same files in the folder's new place. Lightning would
    instead drop the best score when `dirpath` differs: the next epoch would count as best whatever
    its score, and `last.ckpt`, no longer known, would be left for a `last-v1.ckpt`.
    """

    _resumed_from: str | None = None

    @override
    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        # `load_state_dict`, called next, is not told which file it reads
        self._resumed_from = str(trainer.ckpt_path) if trainer.ckpt_path else None

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        stored = state_dict.get("dirpath")
        if self.dirpath and stored and stored != self.dirpath and self._resumes_own_folder():
            rank_zero_info(f"the run folder moved: checkpoints recorded in {stored} are read from {self.dirpath}")
            state_dict = moved_paths(state_dict, stored, self.dirpath)
        super().load_state_dict(state_dict)

    def _resumes_own_folder(self) -> bool:
        """Whether the checkpoint being resumed lies in this callback's folder (dirpath is a real path)."""
        return self._resumed_from is not None and Path(self._resumed_from).resolve().parent == Path(self.dirpath)

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if self._should_skip_saving_checkpoint(trainer) or self._should_save_on_train_epoch_end(trainer):
            return
        self._ensure_last(trainer)

    @override
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_skip_saving_checkpoint(trainer) or not self._should_save_on_train_epoch_end(trainer):
            return
        self._ensure_last(trainer)

    def _ensure_last(self, trainer: L.Trainer) -> None:
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    @property
    def best_copy(self) -> str:
        """`<dirpath>/best.ckpt`: the best checkpoint under a name that does not change (`publish`)."""
        return str(Path(self.dirpath) / BEST) if self.dirpath else ""

    @override
    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        # a new best: best.ckpt follows before last.ckpt is written, so a resume finds the two agreeing
        if filepath == self.best_model_path:
            self._publish_best(trainer)

    @override
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # a run resumed from a checkpoint written without best.ckpt, that did not improve since
        self._publish_best(trainer)

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        # Ctrl-C: Lightning stops the run and exits; the last completed epoch is in last.ckpt
        last = Path(self.dirpath or "") / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"
        if isinstance(exception, KeyboardInterrupt) and trainer.is_global_zero and self.dirpath and last.is_file():
            log.warning(f"interrupted; {last.name} holds the last completed epoch, resume with: {resume_command(last)}")

    def _publish_best(self, trainer: L.Trainer) -> None:
        if trainer.is_global_zero and self.best_model_path and Path(self.best_model_path).is_file():
            publish(self.best_model_path, self.best_copy)
        trainer.strategy.barrier()  # every process tests best.ckpt: it is there before any reads it


def moved_paths(state: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A `ModelCheckpoint` state with every checkpoint path under folder `old` put under `new`."""

    def move(path: str) -> str:
        return str(Path(new) / Path(path).relative_to(old)) if path and Path(path).is_relative_to(old) else path

    moved = {**state, "dirpath": new}
    for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
        if key in state:
            moved[key] = move(state[key])
    if "best_k_models" in state:
        moved["best_k_models"] = {move(path): score for path, score in state["best_k_models"].items()}
    return moved


class BatchSeed(Callback):
    """Reseed torch, numpy and random before every training batch from (seed, epoch, batch, rank).

    Augmentation on the device and dropout draw from the global generators, whose state Lightning
    does not store in checkpoints (and which a resumed launch advances differently before its
    first batch): without this a resumed epoch would draw other masks, crops and noise than the
    same epoch of an uninterrupted run. Distinct processes draw distinct augmentations.

    Args:
        seed: the run's seed (`${seed}`).
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    @override
    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        seed = epoch_seed(self.seed, trainer.current_epoch, trainer.global_rank, batch_idx)
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)


def run_folder_of(ckpt_path: str | Path) -> Path | None:
    """The run folder a `<run>/checkpoints/<name>.ckpt` belongs to, or None for a file elsewhere."""
    path = Path(ckpt_path).expanduser().resolve()
    return path.parent.parent if path.parent.name == "checkpoints" else None


def continue_run(cfg: DictConfig) -> None:
    """Resuming from `<run>/checkpoints/last.ckpt` writes into `<run>` again: the checkpoint
    callback then keeps its best score and path, and TensorBoard continues the same curves."""
    run = run_folder_of(cfg.ckpt_path)
    if run is not None and run != Path(cfg.paths.output_dir).resolve():
        rank_zero_info(f"resuming the run in {run} (this launch's own log: {cfg.paths.output_dir})")
        with open_dict(cfg):
            cfg.paths.output_dir = str(run)


def resume_command(last: Path) -> str:
    """`python train.py <this run's overrides> ckpt_path=<last>`, quoted for a POSIX shell (the
    overrides Hydra recorded; only `ckpt_path=<last>` outside a Hydra run)."""
    from hydra.core.hydra_config import HydraConfig

    path = os.path.relpath(last) if last.resolve().is_relative_to(Path.cwd().resolve()) else str(last)
    if not HydraConfig.initialized():
        return f"ckpt_path={shlex.quote(path)}"
    kept = [o for o in HydraConfig.get().overrides.task if o.lstrip("+~").split("=", 1)[0] != "ckpt_path"]
    return shlex.join(["python", "train.py", *kept, f"ckpt_path={path}"])
