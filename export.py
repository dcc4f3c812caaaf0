"""python export.py ckpt_path=... format=onnx   — the front end and network as one ONNX graph"""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from voxray.cli.checks import check_export, one_line_user_errors
from voxray.cli.overrides import check_overrides

os.environ.setdefault("VOXRAY_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
def main(cfg: DictConfig) -> None:
    with one_line_user_errors():
        check_export(cfg)
        from voxray.cli.logs import setup_run_logs
        from voxray.export import export

        setup_run_logs()
        export(cfg)


if __name__ == "__main__":
    with one_line_user_errors():
        check_overrides(Path(__file__).resolve().parent / "conf", "export")  # typos, before Hydra composes
    main()
