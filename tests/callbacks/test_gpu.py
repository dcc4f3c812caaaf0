"""The GPU callbacks of the default config: channels-last, torch.compile."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate

from tests.helpers.config import VOICE_TINY, compose_cfg
from voxray.callbacks.gpu import ChannelsLast, CompileNet


def tiny_model(tmp_path: Path, *overrides: str) -> tuple[torch.nn.Module, list]:
    """The tiny voice Classifier and the default callbacks, from the real config."""
    cfg = compose_cfg("train", tmp_path / "out", tmp_path / "cache",
                      ["experiment=voice_mel", *VOICE_TINY, *overrides])
    torch.manual_seed(0)
    return instantiate(cfg.model), [instantiate(c) for c in cfg.callbacks.values() if c is not None]


def on(device: str) -> SimpleNamespace:
    """The part of a Trainer the callbacks read."""
    return SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))


def test_channels_last_only_on_cuda_and_outputs_unchanged(tmp_path: Path) -> None:
    model, callbacks = tiny_model(tmp_path)
    assert any(isinstance(c, ChannelsLast) for c in callbacks)  # in the default callbacks
    model.eval()
    wave = torch.randint(-8000, 8000, (4, 48000), dtype=torch.int16)
    eager = model(wave)
    ChannelsLast().setup(on("cpu"), model, "fit")
    conv = model.net.features[1][0]  # (8, 4, 3, 3): the first conv with several input channels
    assert conv.weight.is_contiguous()  # CPU: left as it was
    ChannelsLast().setup(on("cuda"), model, "fit")  # the conversion itself runs on any device
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    torch.testing.assert_close(model(wave), eager)


@pytest.mark.slow  # 30-50 s of compiling on the loaded 2-core box
def test_compiled_network_equals_eager_and_trains(tmp_path: Path) -> None:
    model, callbacks = tiny_model(tmp_path, "callbacks.compile.enabled=true")
    compile_cb = next(c for c in callbacks if isinstance(c, CompileNet))
    assert compile_cb.enabled
    names = set(model.state_dict())
    wave = torch.randint(-8000, 8000, (4, 48000), dtype=torch.int16)
    y = torch.tensor([0, 1, 2, 3])
    model.eval()
    eager = model(wave)
    compile_cb.setup(on("cpu"), model, "fit")
    assert model.net._compiled_call_impl is not None
    torch.testing.assert_close(model(wave), eager, rtol=1e-4, atol=1e-5)
    assert set(model.state_dict()) == names  # in place: checkpoints keep the eager names

    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.net.head[1].weight.detach().clone()
    loss = model._loss(model(wave), y)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.equal(model.net.head[1].weight, before)  # gradients flowed through the compiled net
