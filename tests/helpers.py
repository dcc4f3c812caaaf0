"""Compose the real Hydra config for tests, with every path under a temporary folder."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")


def compose_cfg(name: str, out_dir: Path, cache_dir: Path, overrides: list[str]) -> DictConfig:
    """The config `python <name>.py <overrides>` would get, writing into out_dir / cache_dir."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(out_dir)
        cfg.paths.cache_dir = str(cache_dir)
    HydraConfig.instance().set_config(cfg)  # resolves ${hydra:runtime.output_dir}
    with open_dict(cfg):
        del cfg["hydra"]  # as in a real run: the job's config has no hydra node
    out_dir.mkdir(parents=True, exist_ok=True)
    return cfg
