import json
import math
from pathlib import Path

import pytest
import torch

from voxray.evaluation.decision import binary_metrics, binary_report, choose_threshold, decide
from voxray.reporting.metrics_file import write_json, write_stage_report


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
    # specificity 1.00 from 0.95 down to 0.65: the most sensitive of those (0.70, not 0.50) wins
    assert choose_threshold(scores, targets, 0.5) == pytest.approx(0.625)
    report = binary_report(scores, targets, t, n_boot=200)
    assert report["sensitivity"] == pytest.approx(0.9) and report["specificity"] == pytest.approx(0.9)
    assert report["confmat"] == [[9, 1], [1, 9]]
    lo, hi = report["sensitivity_ci95"]
    assert lo < 0.9 <= hi <= 1.0


def test_positive_scoring_zero_is_caught_at_full_sensitivity() -> None:
    scores = torch.tensor([0.0, 0.9, 0.8, 0.3, 0.2])
    targets = torch.tensor([1, 1, 0, 0, 0])
    t = choose_threshold(scores, targets, 1.0)
    assert t == 0.0  # no lower score to go midway to: the lowest positive score itself
    assert binary_metrics(scores, targets, t)["sensitivity"] == 1.0


def test_threshold_reproduces_its_operating_point_despite_rounding() -> None:
    # adjacent float32 scores: their midpoint rounds onto the lower one (the negative)
    low = torch.tensor(0.5)
    high = torch.nextafter(low, torch.tensor(1.0))
    scores, targets = torch.stack([high, low]), torch.tensor([1, 0])
    t = choose_threshold(scores, targets, 1.0)
    assert decide(scores, t).tolist() == [True, False]


def test_metrics_count_a_score_equal_to_the_threshold_as_positive() -> None:
    scores = torch.tensor([0.5, 0.7, 0.5, 0.2])
    targets = torch.tensor([1, 1, 0, 0])
    m = binary_metrics(scores, targets, 0.5)
    assert m["sensitivity"] == 1.0 and m["specificity"] == 0.5 and m["precision"] == pytest.approx(2 / 3)
    assert binary_report(scores, targets, 0.5, n_boot=10)["confmat"] == [[1, 1], [0, 2]]


def test_threshold_degenerate_and_bad_target() -> None:
    # one class: every threshold meets (or misses) the target alike, so there is nothing to choose
    with pytest.raises(ValueError, match="needs both classes, got 5 negatives and 0 positives"):
        choose_threshold(torch.rand(5), torch.zeros(5), 0.95)
    with pytest.raises(ValueError, match="target_sensitivity"):
        choose_threshold(torch.rand(5), torch.ones(5), 0.0)


def clustered(n_groups: int = 10, size: int = 20) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores, targets, groups: `n_groups` groups of `size` near-identical rows, half positive;
    positive groups 0-2 and negative group 9 are decided positive at 0.5."""
    gen = torch.Generator().manual_seed(0)
    group_score = torch.tensor([0.9, 0.8, 0.7, 0.3, 0.2, 0.1, 0.2, 0.3, 0.4, 0.6])[:n_groups]
    groups = torch.arange(n_groups).repeat_interleave(size)
    scores = group_score[groups] + 0.01 * torch.rand(len(groups), generator=gen)
    return scores, (groups < n_groups // 2).long(), groups


def test_report_resamples_groups_stratified_by_class() -> None:
    scores, targets, groups = clustered()
    by_group = binary_report(scores, targets, 0.5, groups=groups, n_boot=300)
    by_row = binary_report(scores, targets, 0.5, n_boot=300)
    assert by_group["sensitivity"] == by_row["sensitivity"] == pytest.approx(0.6)
    assert by_group["n_groups"] == 10 and by_row["n_groups"] == 200
    assert "10 groups" in by_group["ci"] and "stratified by class" in by_group["ci"]
    for name in ("sensitivity", "specificity", "auroc"):
        (glo, ghi), (rlo, rhi) = by_group[f"{name}_ci95"], by_row[f"{name}_ci95"]
        assert glo <= by_group[name] <= ghi and rlo <= by_row[name] <= rhi
        assert ghi - glo > 2 * (rhi - rlo), name  # 10 independent units, not 200
    assert by_group == binary_report(scores, targets, 0.5, groups=groups, n_boot=300)


def test_a_class_of_one_patient_leaves_the_intervals_that_need_it_undefined() -> None:
    """Group 0 is the only positive patient: sensitivity and every metric that needs both classes have no
    interval; specificity, from five negative patients, keeps its own."""
    scores, targets, groups = clustered()
    keep = (groups == 0) | (groups >= 5)
    report = binary_report(scores[keep], targets[keep], 0.5, groups=groups[keep], n_boot=200)
    assert report["groups_per_class"] == {"negative": 5, "positive": 1}
    assert report["sensitivity"] == 1.0 and report["sensitivity_ci95"] is None
    for name in ("precision", "f1", "f2", "balanced_accuracy", "auroc", "auprc"):
        assert report[f"{name}_ci95"] is None, name
        assert report["ci_undefined"][name] == {"positive": 1}
    lo, hi = report["specificity_ci95"]
    assert lo < report["specificity"] < hi and "specificity" not in report["ci_undefined"]


def test_with_one_class_auroc_and_the_other_class_recall_are_undefined(tmp_path: Path) -> None:
    """No positive in the targets: sensitivity, AUROC and AUPRC do not exist (NaN, null in
    metrics.json), not 0; specificity does, and balanced accuracy is the mean over the class present."""
    scores, targets = torch.tensor([0.2, 0.7, 0.1, 0.4]), torch.zeros(4, dtype=torch.long)
    m = binary_metrics(scores, targets, 0.5)
    assert m["specificity"] == 0.75 and m["balanced_accuracy"] == 0.75
    assert all(math.isnan(m[name]) for name in ("sensitivity", "f1", "f2", "auroc", "auprc")), m
    report = binary_report(scores, targets, 0.5, n_boot=20)
    assert report["auroc"] is None and report["sensitivity"] is None and report["specificity"] == 0.75
    lo, hi = report["specificity_ci95"]  # the class present keeps its interval
    assert lo < 0.75 < hi and "auroc_ci95" not in report and "sensitivity_ci95" not in report
    written = write_stage_report({"test/confmat": [[3, 1], [0, 0]], "test/auroc": m["auroc"], "test/at_0.5": report},
                                 ["normal", "pneumonia"], tmp_path, "test")
    saved = json.loads(written.read_text(), parse_constant=lambda c: pytest.fail(f"metrics.json holds {c}"))
    assert saved["test/auroc"] is None and saved["test/at_0.5"]["auroc"] is None


def test_the_metrics_a_sweep_reads_hold_no_nan(tmp_path: Path) -> None:
    """train_metrics.json (the last value of every scalar, what a sweep compares) writes an undefined
    val/auroc as null, as metrics.json does: NaN is no JSON value."""
    write_json(tmp_path / "train_metrics.json", {"val/auroc": float("nan"), "val/uar": 0.5})
    saved = json.loads((tmp_path / "train_metrics.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert saved == {"val/auroc": None, "val/uar": 0.5}
