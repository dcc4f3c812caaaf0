"""A joint model's tasks: each owns a slice of the logits, its own softmax and a masked, class-weighted loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from voxray.models.losses import class_weights
from voxray.models.tasks import MISSING, Tasks

JOINT = Tasks({"age": ["teens", "twenties", "thirties"], "gender": ["female", "male"]})


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits (4, 5) of a joint model, labels (4, 2) with two rows lacking an age, class weights (5,)."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(4, 5, generator=generator)
    y = torch.tensor([[0, 1], [MISSING, 0], [2, 0], [MISSING, 1]])
    weights = torch.tensor([0.5, 1.0, 2.0, 0.8, 1.3])
    return logits, y, weights


def test_a_clip_without_an_age_gives_no_gradient_to_the_age_logits() -> None:
    logits, y, weights = batch()
    logits.requires_grad_()
    JOINT.loss(logits, y, weights, smoothing=0.1).backward()
    no_age = y[:, 0] == MISSING
    assert torch.all(logits.grad[no_age, :3] == 0), "the age head learns nothing from a clip without an age"
    assert torch.all(logits.grad[no_age, 3:].abs().sum(dim=1) > 0), "but the gender head learns from it"
    assert torch.all(logits.grad[~no_age].abs().sum(dim=1) > 0)


def test_the_loss_is_the_sum_of_each_tasks_weighted_mean_over_its_labelled_rows() -> None:
    logits, y, weights = batch()
    has_age = y[:, 0] != MISSING
    age = F.cross_entropy(logits[has_age, :3], y[has_age, 0], weight=weights[:3])
    gender = F.cross_entropy(logits[:, 3:], y[:, 1], weight=weights[3:])
    assert float(JOINT.loss(logits, y, weights, 0.0)) == pytest.approx(float(age + gender), rel=1e-6)
    # the per-row form the evaluation epoch averages gives the same number
    losses, row_weights = JOINT.losses(logits, y, weights, 0.0)
    assert losses.shape == row_weights.shape == (4, 2) and float(row_weights[~has_age, 0].sum()) == 0
    assert float((losses.sum(0) / row_weights.sum(0)).sum()) == pytest.approx(float(age + gender), rel=1e-6)


def test_a_batch_without_any_age_trains_gender_alone() -> None:
    logits, y, weights = batch()
    y[:, 0] = MISSING
    loss = JOINT.loss(logits, y, weights, 0.0)
    assert float(loss) == pytest.approx(float(F.cross_entropy(logits[:, 3:], y[:, 1], weight=weights[3:])), rel=1e-6)


def test_a_single_task_keeps_the_plain_weighted_cross_entropy() -> None:
    single = Tasks(["female", "male"])
    logits, y = torch.randn(6, 2), torch.tensor([0, 1, 1, 0, 1, 1])
    weights = torch.tensor([1.5, 0.75])
    assert not single.joint and [t.prefix("val") for t in single] == ["val"]
    assert torch.equal(single.loss(logits, y, weights, 0.0), F.cross_entropy(logits, y, weight=weights))
    assert torch.allclose(single.probs(logits), logits.softmax(dim=1))


def test_probabilities_are_a_softmax_within_each_tasks_columns() -> None:
    logits, _, _ = batch()
    probs = JOINT.probs(logits)
    assert torch.allclose(probs[:, :3].sum(dim=1), torch.ones(4))
    assert torch.allclose(probs[:, 3:].sum(dim=1), torch.ones(4))
    assert torch.allclose(probs[:, 3:], logits[:, 3:].softmax(dim=1))
    assert [t.prefix("test") for t in JOINT] == ["test/age", "test/gender"] and JOINT.num_classes == 5


def test_class_weights_come_from_each_tasks_own_counts() -> None:
    counts = {"age": [10, 30, 0], "gender": [25, 75]}
    weights = JOINT.weights(counts, "balanced", None)
    assert torch.equal(weights, torch.cat([class_weights([10, 30, 0]), class_weights([25, 75])]))
    manual = JOINT.weights(counts, "manual", {"age": [1.0, 2.0, 3.0], "gender": [4.0, 5.0]})
    assert manual.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    with pytest.raises(ValueError, match="at least 2 classes"):
        Tasks({"age": ["teens", "twenties"], "gender": ["female"]})
