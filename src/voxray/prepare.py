"""The body of prepare.py: build one data configuration's store (or this task's parts of it)."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from voxray.data.datamodule import ArrayDataModule

log = logging.getLogger(__name__)


def prepare(cfg: DictConfig) -> ArrayDataModule:
    """Prepare the store of `cfg.data` (task `cfg.part` of `cfg.of`, or all of it); log where it stands."""
    datamodule: ArrayDataModule = hydra.utils.instantiate(cfg.data)
    task = None if cfg.part is None else (int(cfg.part), int(cfg.of))
    folder = datamodule.store_folder()
    prepared = datamodule.prepare_store(task)
    if prepared is None:
        log.info(f"task {task[0]} of {task[1]}: its parts are done in {folder}; the store is complete once "
                 "every task's are (the last task to finish, or a rerun of any, completes it)")
    else:
        datamodule.planned(prepared)  # the planned rows too, so that no training process reads the tables
        log.info(f"store complete: {len(prepared.data)} rows, {len(prepared.skipped)} files skipped "
                 f"(reasons in {folder / 'skipped.csv'}) in {folder}")
        if datamodule.stream:
            datamodule.prepare_data()  # each split's copy for streaming, uploaded to data.stream_uri if set
            log.info(f"split views for streaming in {datamodule.stream_uri or datamodule.cache_dir / 'stream'}")
        if datamodule.encoder is not None:  # one process per GPU: not a job for the CPU tasks here
            log.info("a frozen encoder's features (data.encoder) are computed when training starts, on its device")
    return datamodule
