"""Silent and full-scale audio under bf16 autocast, and batches missing a class, stay finite."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from voxray.features.logmel import LogMel, VoiceFrontEnd
from voxray.models.losses import class_weights


def _extremes() -> torch.Tensor:
    """(3, 48000) int16: digital silence, a full-scale square wave, the int16 extremes alternating."""
    square = torch.where(torch.arange(48000) // 40 % 2 == 0, 32767, -32768).to(torch.int16)
    edge = torch.where(torch.arange(48000) % 2 == 0, 32767, -32768).to(torch.int16)
    return torch.stack([torch.zeros(48000, dtype=torch.int16), square, edge])


@pytest.mark.parametrize("training", [True, False])
def test_front_end_is_finite_under_bf16_autocast(training: bool) -> None:
    front = VoiceFrontEnd(LogMel()).train(training)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = front(_extremes())  # (3, 1, 64, 301)
        mel = LogMel()(_extremes().float() / 32768.0)
    assert out.dtype == mel.dtype == torch.float32
    assert torch.isfinite(out).all() and torch.isfinite(mel).all()
    assert mel[0].max() == mel[0].min(), "silence is one flat floor value, not -inf"


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_weighted_loss_is_finite_when_a_batch_lacks_classes(smoothing: float) -> None:
    weights = class_weights([300, 100, 50], "balanced")
    logits = torch.randn(8, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    for targets in (torch.tensor([0, 1] * 4), torch.full((8,), 2)):  # class 2 absent; only class 2
        loss = F.cross_entropy(logits, targets, weight=weights, label_smoothing=smoothing)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
        logits.grad = None
