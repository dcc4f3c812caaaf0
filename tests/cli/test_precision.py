"""The trainer's precision per machine (the `voxray.precision` resolver of voxray.cli.precision); cuDNN autotuning."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from tests.helpers.config import VOICE_TINY, compose_cfg


def fake_cuda(monkeypatch: pytest.MonkeyPatch, bf16: bool) -> None:
    """This process sees a CUDA GPU, with or without native bf16."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)


def precision(tmp_path: Path, *overrides: str) -> str:
    cfg = compose_cfg("train", tmp_path / "out", tmp_path / "cache", ["experiment=voice_mel", *overrides])
    return cfg.trainer.precision


def test_precision_is_fp32_on_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert precision(tmp_path) == "32-true"
    fake_cuda(monkeypatch, bf16=True)
    assert precision(tmp_path, "trainer=cpu") == "32-true"  # a GPU machine told to train on its CPU


def test_precision_is_bf16_mixed_on_a_gpu_with_bf16(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cuda(monkeypatch, bf16=True)
    assert precision(tmp_path) == "bf16-mixed"  # the plain command
    assert precision(tmp_path, "trainer=gpu") == precision(tmp_path, "trainer=ddp") == "bf16-mixed"
    fake_cuda(monkeypatch, bf16=False)  # V100, T4: bf16 only emulated
    assert precision(tmp_path, "trainer=gpu") == "16-mixed"


def test_the_default_trainer_turns_cudnn_autotuning_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    cfg = compose_cfg("train", tmp_path / "out", tmp_path / "cache", ["experiment=voice_mel", *VOICE_TINY])
    trainer = instantiate(cfg.trainer, logger=False)
    assert torch.backends.cudnn.benchmark is True
    assert trainer.precision == "32-true"
