"""python prepare.py experiment=voice_mel data.root=...   — build the data store once, then exit; see README."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from voxray.cli.checks import check_prepare, one_line_user_errors
from voxray.cli.help import print_config  # also registers the resolver --help uses
from voxray.cli.overrides import check_overrides

os.environ.setdefault("VOXRAY_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="prepare")
def main(cfg: DictConfig) -> None:
    with one_line_user_errors():
        if cfg.extras.print_config:
            print_config(cfg)
        check_prepare(cfg)  # before the heavy imports
        from voxray.cli.logs import setup_run_logs
        from voxray.prepare import prepare

        setup_run_logs()
        prepare(cfg)


if __name__ == "__main__":
    with one_line_user_errors():
        check_overrides(Path(__file__).resolve().parent / "conf", "prepare")  # typos, before Hydra composes
    main()
