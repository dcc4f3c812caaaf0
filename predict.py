"""python predict.py ckpt_path=... inputs=[a.mp3,b.wav,c.jpeg]   — probabilities and decisions per file"""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("VOXRAY_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    from voxray.predict import predict

    predict(cfg)


if __name__ == "__main__":
    main()
