"""python baseline.py data.target=gender   — the classical baseline the CNN must beat; see README."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from voxray.cli.checks import check_baseline, one_line_user_errors
from voxray.cli.overrides import check_overrides

os.environ.setdefault("VOXRAY_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="baseline")
def main(cfg: DictConfig) -> float:
    with one_line_user_errors():
        check_baseline(cfg)  # before the heavy imports and any data preparation
        from voxray.baseline import baseline  # after Hydra: keeps --help and tab completion fast

        return baseline(cfg)["test/uar"]


if __name__ == "__main__":
    with one_line_user_errors():
        check_overrides(Path(__file__).resolve().parent / "conf", "baseline")  # typos, before Hydra composes
    main()
