import pytest
import torch

from voxray.decision import binary_report, choose_threshold


def test_threshold_with_best_specificity_at_target_sensitivity() -> None:
    # 10 positives, 10 negatives. Sensitivity 0.9 needs the 9 highest positives (>= 0.55);
    # at 0.55 one negative (0.6) is above: specificity 0.9. A lower threshold only adds negatives.
    # The threshold returned sits midway to the next lower score (0.5).
    pos = torch.tensor([0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.1])
    neg = torch.tensor([0.6, 0.5, 0.45, 0.4, 0.3, 0.2, 0.15, 0.12, 0.05, 0.02])
    scores, targets = torch.cat([pos, neg]), torch.cat([torch.ones(10), torch.zeros(10)]).long()
    t = choose_threshold(scores, targets, 0.9)
    assert t == pytest.approx(0.525)
    assert choose_threshold(scores, targets, 1.0) == pytest.approx(0.075)  # must catch the 0.1 positive
    assert choose_threshold(scores, targets, 0.5) == pytest.approx(0.725)  # 5 positives, no negative
    report = binary_report(scores, targets, t, n_boot=200)
    assert report["sensitivity"] == pytest.approx(0.9) and report["specificity"] == pytest.approx(0.9)
    assert report["confmat"] == [[9, 1], [1, 9]]
    lo, hi = report["sensitivity_ci95"]
    assert lo < 0.9 <= hi <= 1.0


def test_threshold_degenerate_and_bad_target() -> None:
    assert choose_threshold(torch.rand(5), torch.zeros(5), 0.95) == 0.5
    with pytest.raises(ValueError, match="target_sensitivity"):
        choose_threshold(torch.rand(5), torch.ones(5), 0.0)
