"""python train.py experiment=voice_mel   — train (and test) one experiment; see README."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("VOXRAY_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from voxray.train import train  # after Hydra: keeps --help and tab completion fast

    metrics = train(cfg)
    return metrics.get(cfg.get("optimized_metric"))  # what the Optuna sweeper maximises


if __name__ == "__main__":
    main()
