"""python train.py experiment=voice_mel   — train (and test) one experiment; see README."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from voxray.cli.checks import check_accelerator, check_train, one_line_user_errors
from voxray.cli.help import print_config  # also registers the resolver --help uses
from voxray.cli.overrides import check_overrides

os.environ.setdefault("VOXRAY_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    with one_line_user_errors():
        if cfg.extras.print_config:
            print_config(cfg)
        check_train(cfg)  # before the heavy imports and any data preparation
        check_accelerator(cfg.trainer)
        from voxray.cli.logs import setup_run_logs
        from voxray.train import train  # after Hydra: keeps --help and tab completion fast

        setup_run_logs()
        metrics = train(cfg)
    return metrics.get(cfg.get("optimized_metric"))  # what the Optuna sweeper maximises


if __name__ == "__main__":
    with one_line_user_errors():
        check_overrides(Path(__file__).resolve().parent / "conf", "train")  # typos, before Hydra composes
    main()
