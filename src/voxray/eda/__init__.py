"""`eda(cfg)`: prepare the configured data set, draw its figures, and write `index.html`."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from voxray.eda.index import write_index

log = logging.getLogger(__name__)


def eda(cfg: DictConfig) -> Path:
    """Write the figures of `cfg.eda` for the data of `cfg.data` into the run folder.

    Args:
        cfg: the composed `eda` config; `cfg.eda` is a partial `(datamodule, out_dir, seed) ->
            list[Item]` chosen by the data group (conf/eda/voice.yaml, conf/eda/xray.yaml).

    Returns:
        The path of `index.html`.
    """
    start = time.perf_counter()
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup()
    items = instantiate(cfg.eda)(datamodule, out_dir, seed=cfg.seed)
    title = f"EDA: {type(datamodule).__name__} ({datamodule.report.get('root', '')})"
    index = write_index(out_dir, title, items, datamodule.report)
    log.info(f"EDA: {len(items)} figures/tables in {time.perf_counter() - start:.0f} s; open {index}")
    return index
