"""`python train.py --help` lists the config groups the command composes, not every folder of conf/."""

from __future__ import annotations

from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf


def used_groups(choices: DictConfig) -> str:
    """`group: option, option` for each non-Hydra group in the composed defaults (`hydra.runtime.choices`)."""
    loader = GlobalHydra.instance().config_loader()
    groups = sorted(g for g in choices if not g.startswith("hydra/") and g != "hydra")
    return "\n".join(f"{g}: {', '.join(sorted(loader.get_group_options(g)))}" for g in groups)


if not OmegaConf.has_resolver("voxray.used_groups"):
    OmegaConf.register_new_resolver("voxray.used_groups", used_groups)
