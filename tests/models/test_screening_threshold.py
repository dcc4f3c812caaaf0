"""A screening model's threshold: chosen on validation, or set in the config; never silently 0.5."""

import logging
from functools import partial

import pytest
import torch
from torch import nn

from voxray.models.classifier import Classifier


def _model(**decision: object) -> Classifier:
    net = partial(lambda num_classes: nn.Linear(4, num_classes))
    return Classifier(nn.Identity(), net, ["normal", "pneumonia"], optimizer=partial(torch.optim.SGD, lr=0.1),
                      decision={"positive_class": "pneumonia", "target_sensitivity": 0.95, **decision})


def _validate(model: Classifier, scores: list[float], targets: list[int]) -> None:
    model._decide("val", torch.tensor(scores), torch.tensor(targets), torch.arange(len(targets)))


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_validation_epoch_of_one_class_keeps_the_threshold_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    model = _model()
    _validate(model, [0.9, 0.2, 0.6, 0.1], [1, 0, 1, 0])
    chosen = float(model.threshold)
    assert model.threshold_from == "chosen on validation" and chosen != 0.5
    # e.g. trainer.limit_val_batches cut validation to films of one class
    with caplog.at_level(logging.WARNING):
        _validate(model, [0.7, 0.8, 0.3], [1, 1, 1])
    assert _warnings(caplog) == [
        f"validation epoch 0 holds 3 pneumonia and 0 other examples, so no threshold can be chosen on it; "
        f"the threshold stays at {chosen:.4g} (chosen on validation)"]
    assert float(model.threshold) == chosen


def test_a_model_that_never_saw_both_classes_says_its_threshold_is_the_initial_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = _model()
    with caplog.at_level(logging.WARNING):
        _validate(model, [0.7, 0.3], [0, 0])
    assert "holds 0 pneumonia and 2 other examples" in _warnings(caplog)[0]
    assert float(model.threshold) == 0.5
    assert model.threshold_from == "left at 0.5: no validation epoch held both classes"
    saved: dict = {}
    model.on_save_checkpoint(saved)
    assert saved["voxray"]["threshold_from"] == model.threshold_from, "the test reports it from the checkpoint"
    other = _model()
    other.on_load_checkpoint(saved)
    assert other.threshold_from == model.threshold_from


def test_an_explicit_threshold_is_used_and_never_replaced(caplog: pytest.LogCaptureFixture) -> None:
    model = _model(threshold=0.3)
    assert float(model.threshold) == pytest.approx(0.3) and model.threshold_from == "set by model.decision.threshold"
    _validate(model, [0.9, 0.2, 0.6, 0.1], [1, 0, 1, 0])
    assert float(model.threshold) == pytest.approx(0.3)
    with caplog.at_level(logging.WARNING):
        _validate(model, [0.9], [1])  # one class: nothing to choose, and nothing to warn about
    assert _warnings(caplog) == []


@pytest.mark.parametrize("bad", [1.5, -0.1, "high"])
def test_an_explicit_threshold_outside_0_1_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match=r"model.decision.threshold must be a probability in \[0, 1\] or null"):
        _model(threshold=bad)
