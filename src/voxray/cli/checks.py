"""Mistakes in a command, caught before anything slow and reported in one line: what is wrong, what to do.

The entry points call these checks first, before torch, Lightning or timm are imported and before any
data is prepared. Only `check_accelerator` and `check_device` import torch (3-4 s), so they come next,
still before Lightning and timm. Everything else needs the standard library and omegaconf (and pandas
for the X-ray layout, through the reader's own detection).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from voxray.checkpoint import check_resume, newest
from voxray.errors import CKPT_EXAMPLE, UserError

# loggers whose package is an optional dependency (class name -> package)
OPTIONAL_LOGGERS = {"WandbLogger": "wandb", "MLFlowLogger": "mlflow", "CometLogger": "comet_ml",
                    "NeptuneLogger": "neptune"}


@contextmanager
def one_line_user_errors() -> Iterator[None]:
    """Exit with `error: <message>` when a UserError escapes (also one that Hydra's `instantiate`
    wrapped); `HYDRA_FULL_ERROR=1` keeps the traceback. Every other exception is a bug and keeps it."""
    try:
        yield
    except Exception as err:
        cause = err
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__
        if cause is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        sys.exit(f"error: {cause}")


def check_train(cfg: DictConfig) -> None:
    """train.py: the data folder, the numbers that must be positive or fractions, the files named."""
    check_data(cfg.data)
    _positive_int(cfg.trainer, "max_epochs", "trainer")
    weights = OmegaConf.select(cfg, "model.net.weights")
    if weights is not None and not Path(weights).expanduser().is_file():
        raise UserError(
            f"model.net.weights={weights} is not a file; pass a .safetensors or .pth file of the "
            f"network's weights, or leave it out (model.net.pretrained=true downloads them)"
        )
    check_loggers(cfg.get("logger"))
    check_resume(cfg)


def check_prepare(cfg: DictConfig) -> None:
    """prepare.py: the data config, and `part`/`of` naming one task of several."""
    check_data(cfg.data)
    _positive_int(cfg, "of")
    part, of = cfg.get("part"), cfg.of
    if part is not None and (not isinstance(part, int) or isinstance(part, bool) or not 0 <= part < of):
        raise UserError(f"part={part} must be a whole number from 0 to of-1={of - 1} (task part of of), "
                        "or null to prepare every part here")


def check_loggers(loggers: DictConfig | None) -> None:
    """The package of each logger is installed (wandb, mlflow: optional, not in uv.lock); imports none."""
    import importlib.util

    for name, logger in (loggers or {}).items():
        package = OPTIONAL_LOGGERS.get(str((logger or {}).get("_target_", "")).rsplit(".", 1)[-1])
        if package and importlib.util.find_spec(package) is None:
            raise UserError(f"logger={name} needs the {package} package, which is not installed: uv pip install "
                            f"{package} (or use logger=tensorboard or logger=csv)")


def check_eval(cfg: DictConfig) -> None:
    """eval.py: the checkpoint exists; a `+data.root` override names a folder or file."""
    _checkpoint(cfg)
    data = cfg.get("data") or {}
    root = data.get("root")
    if root is not None and not Path(root).expanduser().exists():
        raise UserError(f"data.root={root} does not exist; point it at the dataset to test on")
    if "batch_size" in data:
        _positive_int(data, "batch_size", "data")


def check_predict(cfg: DictConfig) -> None:
    """predict.py: the checkpoint exists, inputs are given, batch size and device are valid."""
    _checkpoint(cfg)
    if OmegaConf.is_missing(cfg, "inputs") or not cfg.inputs:
        raise UserError("no inputs given; pass files or folders: predict.py ckpt_path=... inputs=[a.mp3,/folder]")
    _positive_int(cfg, "batch_size")
    _non_negative_int(cfg, "num_workers")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise UserError(f"device={cfg.device} is not one of auto, cpu, cuda")


def check_export(cfg: DictConfig) -> None:
    """export.py: the checkpoint exists."""
    _checkpoint(cfg)


def check_baseline(cfg: DictConfig) -> None:
    """baseline.py: one target (its logistic regression scores one label per clip), then the data config."""
    target = cfg.data.get("target")
    if OmegaConf.is_list(target):
        raise UserError(
            f"data.target={list(target)}: the baseline scores one target at a time; "
            "pass data.target=age or data.target=gender (one run each)"
        )
    check_data(cfg.data)


def check_data(data: DictConfig) -> None:
    """Sizes and fractions of a data config, and that `root` holds a dataset of its kind."""
    _positive_int(data, "batch_size", "data")
    _non_negative_int(data, "num_workers", "data")
    _non_negative_int(data, "prepare_workers", "data")
    _positive_int(data, "part_size", "data")
    val, test = data.get("val_fraction", 0), data.get("test_fraction", 0)
    for key, value in (("val_fraction", val), ("test_fraction", test)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
            raise UserError(f"data.{key}={value} must be a fraction in [0, 1), e.g. data.{key}=0.15")
    if val + test >= 1:
        raise UserError(
            f"data.val_fraction={val} and data.test_fraction={test} leave nothing to train on; "
            "keep their sum below 1"
        )
    raw_classes = OmegaConf.to_container(data, resolve=False).get("classes")
    if OmegaConf.is_list(data.get("target")) and not isinstance(raw_classes, dict):
        raise UserError(
            f"data.target={list(data.target)} needs data.classes per target ({{age: [...], gender: [...]}}); "
            "experiment=voice_age_gender sets both"
        )
    if data.get("root") is not None:
        # the DataModule's package checks a root it is given (voxray.data.voice, voxray.data.xray: no torch)
        package, _, _ = str(data.get("_target_", "")).rpartition(".")
        check_root = getattr(importlib.import_module(package), "check_root", None) if package else None
        if check_root is not None:
            check_root(str(data.root))


def check_accelerator(trainer: DictConfig) -> None:
    """The GPU a trainer config asks for exists (imports torch: call it right after the checks above)."""
    import torch

    accelerator = str(trainer.get("accelerator", "auto")).lower()
    if accelerator in ("gpu", "cuda") and not (torch.cuda.is_available() or torch.backends.mps.is_available()):
        raise UserError(
            f"trainer.accelerator={accelerator} but torch finds no GPU on this machine; "
            "run with trainer=cpu, or without trainer= to use whatever the machine has"
        )
    devices, found = trainer.get("devices"), torch.cuda.device_count()
    if accelerator in ("gpu", "cuda") and found and isinstance(devices, int) and devices > found:
        raise UserError(f"trainer.devices={devices} but this machine has {found} GPU(s); set trainer.devices={found}")


def check_device(device: str) -> None:
    """predict.py's `device=cuda` needs a CUDA GPU (imports torch)."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda but torch finds no CUDA GPU on this machine; use device=auto or device=cpu")


def _checkpoint(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise UserError(f"no checkpoint given; pass ckpt_path={CKPT_EXAMPLE}")
    if not Path(cfg.ckpt_path).expanduser().is_file():
        hint = newest(cfg, "best.ckpt") or f"pass a checkpoint such as ckpt_path={CKPT_EXAMPLE}"
        raise UserError(f"ckpt_path={cfg.ckpt_path} is not a file; {hint}")


def _positive_int(node: DictConfig, key: str, prefix: str = "") -> None:
    value, name = node.get(key), f"{prefix}.{key}" if prefix else key
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise UserError(f"{name}={value} must be a whole number of at least 1, e.g. {name}=8")


def _non_negative_int(node: DictConfig, key: str, prefix: str = "") -> None:
    value, name = node.get(key), f"{prefix}.{key}" if prefix else key
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise UserError(f"{name}={value} must be a whole number of at least 0 (0 = in this process)")
