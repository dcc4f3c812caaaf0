"""What a command shows of its config: `--help` lists the groups it composes (not every folder of
conf/); `extras.print_config=true` logs the composed config at the start."""

from __future__ import annotations

import logging

from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def used_groups(choices: DictConfig) -> str:
    """`group: option, option` for each non-Hydra group in the composed defaults (`hydra.runtime.choices`)."""
    loader = GlobalHydra.instance().config_loader()
    groups = sorted(g for g in choices if not g.startswith("hydra/") and g != "hydra")
    return "\n".join(f"{g}: {', '.join(sorted(loader.get_group_options(g)))}" for g in groups)


if not OmegaConf.has_resolver("voxray.used_groups"):
    OmegaConf.register_new_resolver("voxray.used_groups", used_groups)


def print_config(cfg: DictConfig) -> None:
    """The composed config as YAML, resolved (paths, precision), in the console and the run's log file."""
    log.info("the composed config (extras.print_config=true):\n%s", OmegaConf.to_yaml(cfg, resolve=True))
