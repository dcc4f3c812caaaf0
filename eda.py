"""python eda.py [data=xray]   — EDA figures and index.html of a data set; see README."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from voxray.cli.checks import one_line_user_errors
from voxray.cli.overrides import check_overrides

os.environ.setdefault("VOXRAY_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="eda")
def main(cfg: DictConfig) -> None:
    from voxray.eda import eda  # after Hydra: keeps --help and tab completion fast

    eda(cfg)


if __name__ == "__main__":
    with one_line_user_errors():
        check_overrides(Path(__file__).resolve().parent / "conf", "eda")  # typos, before Hydra composes
    main()
