"""Mixup in the training step: inputs blended after the front end, the loss with both labels."""

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from voxray.models.classifier import Classifier


def _model(mixup: float) -> Classifier:
    torch.manual_seed(0)
    net = partial(lambda num_classes: nn.Linear(4, num_classes))
    model = Classifier(nn.Identity(), net, ["a", "b", "c"], optimizer=partial(torch.optim.SGD, lr=0.1), mixup=mixup)
    model.class_weights.copy_(torch.tensor([1.0, 2.0, 0.5]))
    return model


def test_mixup_blends_inputs_and_both_labels_with_one_beta_draw() -> None:
    model = _model(mixup=0.4)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    torch.manual_seed(7)
    loss = model.training_step((x, y, torch.arange(6)), 0)

    torch.manual_seed(7)  # the same draws, by hand
    lam = float(torch.distributions.Beta(0.4, 0.4).sample())
    other = torch.randperm(6)
    logits = model.net(lam * x + (1 - lam) * x[other])
    w = model.class_weights
    expected = lam * F.cross_entropy(logits, y, weight=w) + (1 - lam) * F.cross_entropy(logits, y[other], weight=w)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert 0 < lam < 1 and not torch.equal(other, torch.arange(6))


def test_no_mixup_is_the_plain_weighted_loss() -> None:
    model = _model(mixup=0.0)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    loss = model.training_step((x, y, torch.arange(6)), 0)
    assert loss.item() == pytest.approx(F.cross_entropy(model.net(x), y, weight=model.class_weights).item())


def test_negative_mixup_is_refused() -> None:
    with pytest.raises(ValueError, match="mixup must be >= 0"):
        _model(mixup=-1.0)
