"""GPU settings the default callbacks apply to the network: channels-last memory order, `torch.compile`.

Both touch only the network (`Classifier.net`), never the front end, which stays eager and fp32.
Precision and cuDNN autotuning are trainer settings (`conf/trainer/default.yaml`, `voxray.cli.precision`).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn


def _network(pl_module: L.LightningModule, attribute: str) -> nn.Module:
    net = getattr(pl_module, attribute, None)
    if not isinstance(net, nn.Module):
        raise ValueError(f"the LightningModule has no network at .{attribute}; set the callback's attribute")
    return net


class ChannelsLast(Callback):
    """Convolution weights in channels-last (NHWC) order when the run is on a CUDA device.

    cuDNN then picks its NHWC kernels, which tensor cores run natively under bf16/fp16 (a conv whose
    weight is channels-last gives a channels-last output, so the whole network follows). A CPU run
    keeps the default order. Checkpoints are unaffected: a state dict holds values, not strides.

    Args:
        attribute: the LightningModule's network attribute ("net").
    """

    def __init__(self, attribute: str = "net") -> None:
        self.attribute = attribute

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.strategy.root_device.type == "cuda":
            _network(pl_module, self.attribute).to(memory_format=torch.channels_last)


class CompileNet(Callback):
    """`torch.compile` the network in place (`nn.Module.compile`) before fitting or testing.

    In place, so parameter names and checkpoints stay those of the eager network. Off by default:
    `callbacks.compile.enabled=true`. The first steps are slow while it compiles.

    Args:
        enabled: compile (False).
        attribute: the LightningModule's network attribute ("net").
        options: keyword arguments of `torch.compile` (mode, backend, dynamic, ...).
    """

    def __init__(self, enabled: bool = False, attribute: str = "net", **options: Any) -> None:
        self.enabled, self.attribute, self.options = enabled, attribute, options

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        net = _network(pl_module, self.attribute)
        if self.enabled and net._compiled_call_impl is None:  # fit then test: compile once
            net.compile(**self.options)
