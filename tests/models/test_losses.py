import pytest
import torch

from voxray.models.losses import class_weights


def test_balanced_weights_equalise_class_mass() -> None:
    counts = [300, 100, 50, 0]
    w = class_weights(counts, "balanced")
    torch.testing.assert_close(w[:3], torch.tensor([450 / 1200, 450 / 400, 450 / 200]))
    assert w[3] == 0, "an absent class gets no weight instead of inf"
    mass = w[:3] * torch.tensor(counts[:3], dtype=torch.float32)
    torch.testing.assert_close(mass, mass.mean().expand(3))


def test_none_and_manual_and_bad_mode() -> None:
    assert torch.equal(class_weights([5, 1], "none"), torch.ones(2))
    assert class_weights([5, 1], "manual", [1.0, 3.0]).tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match="manual_weights"):
        class_weights([5, 1], "manual", [1.0])
    with pytest.raises(ValueError, match="balanced"):
        class_weights([5, 1], "inverse")
