"""python predict.py ckpt_path=... inputs=[a.mp3,b.wav,c.jpeg]   — probabilities and decisions per file"""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from voxray.cli.checks import check_device, check_predict, one_line_user_errors
from voxray.cli.overrides import check_overrides

os.environ.setdefault("VOXRAY_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    with one_line_user_errors():
        check_predict(cfg)
        check_device(cfg.device)
        from voxray.cli.logs import setup_run_logs
        from voxray.predict import predict

        setup_run_logs()
        predict(cfg)


if __name__ == "__main__":
    with one_line_user_errors():
        check_overrides(Path(__file__).resolve().parent / "conf", "predict")  # typos, before Hydra composes
    main()
