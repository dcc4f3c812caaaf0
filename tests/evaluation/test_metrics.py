from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from sklearn.metrics import balanced_accuracy_score

from tests.helpers.config import compose_cfg
from voxray.evaluation.bootstrap import group_bootstrap_ci
from voxray.evaluation.metrics import multiclass_report, stage_metrics

# targets lack class 2, which the predictions contain (argmax of one-hot probabilities)
TARGETS = torch.tensor([0, 0, 0, 1, 1, 1])
PREDS = torch.tensor([0, 0, 2, 1, 1, 0])


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_uar_is_mean_recall_over_classes_present_in_targets() -> None:
    metrics = stage_metrics(3, "test")
    metrics.update(torch.eye(3)[PREDS], TARGETS)
    values = metrics.compute()
    expected = balanced_accuracy_score(TARGETS.numpy(), PREDS.numpy())  # (2/3 + 2/3) / 2
    assert float(values["test/uar"]) == pytest.approx(expected)
    report = multiclass_report(torch.eye(3)[PREDS], TARGETS, None, ["a", "b", "c"], n_boot=50)
    assert report["uar"] == pytest.approx(expected)
    assert "test/auprc_macro" in values and "test/auprc" not in values


def test_bootstrap_keeps_the_number_of_groups_per_class() -> None:
    # 3 positive groups and 7 negative groups of 20 rows; group 0 has a minority of negative rows
    groups = np.repeat(np.arange(10), 20)
    targets = (groups < 3).astype(int)
    targets[:5] = 0
    ci = group_bootstrap_ci(lambda rows: {"n_pos_groups": len(np.unique(groups[rows][targets[rows] == 1])),
                                          "n_rows": len(rows)},
                            targets, groups, n_boot=200)
    assert ci["n_rows"] == [200.0, 200.0]  # 3 + 7 groups of 20 rows in every draw
    lo, hi = ci["n_pos_groups"]
    assert lo == 1 and hi == 3  # the 3 positive groups are drawn with replacement among themselves


def test_bootstrap_is_seeded_and_skips_undefined_draws() -> None:
    targets = np.array([0] * 30 + [1] * 30)

    def stat(rows: np.ndarray) -> dict[str, float]:
        # defined only in the draws that hold row 0 (about two in three)
        return {"mean": float(rows.mean())} if 0 in rows else {}

    first = group_bootstrap_ci(stat, targets, None, n_boot=100, seed=3)
    assert first == group_bootstrap_ci(stat, targets, None, n_boot=100, seed=3)
    assert first != group_bootstrap_ci(stat, targets, None, n_boot=100, seed=4)
    assert set(first) == {"mean"} and group_bootstrap_ci(lambda rows: {}, targets, None, n_boot=10) == {}


def test_multiclass_report_resamples_speakers_and_skips_absent_classes() -> None:
    # 12 speakers of 15 clips: 0-5 young, 6-11 adult; speakers 4-5 are predicted adult. "old" is a
    # minority of speakers 0 (right) and 6 (predicted adult): some draws hold no old clip at all
    speakers = np.repeat(np.arange(12), 15)
    targets = torch.as_tensor(speakers >= 6).long()
    preds = targets.clone()
    preds[torch.as_tensor((speakers == 4) | (speakers == 5))] = 1
    targets[[0, 1, 2, 90, 91, 92]] = 2
    preds[[0, 1, 2]] = 2
    probs = torch.eye(3)[preds] * 0.8 + 0.1
    names = ["young", "adult", "old"]
    report = multiclass_report(probs, targets, speakers, names, n_boot=300)
    assert report["n_groups"] == 12 and "12 groups" in report["ci"]
    assert report["uar"] == pytest.approx(balanced_accuracy_score(targets.numpy(), preds.numpy()))
    assert report["recall/old"] == 0.5 and report["recall/old_ci95"] == [0.0, 1.0]
    for name in ("uar", "recall/young", "recall/adult"):
        lo, hi = report[f"{name}_ci95"]
        assert 0 <= lo <= report[name] <= hi <= 1, name
    by_row = multiclass_report(probs, targets, None, names, n_boot=300)
    (glo, ghi), (rlo, rhi) = report["recall/young_ci95"], by_row["recall/young_ci95"]
    assert ghi - glo > 2 * (rhi - rlo)  # 6 young speakers, not 87 young clips
    assert report == multiclass_report(probs, targets, speakers, names, n_boot=300)


def test_macro_metrics_average_over_the_classes_present_in_the_targets() -> None:
    """Class c is absent from the targets: it has no AUROC, AP or F1, so it must not count as 0 in
    the macro averages (as it does not in the UAR). One row of class a is predicted c."""
    targets = torch.tensor([0, 0, 0, 1, 1, 1])
    probs = torch.tensor([[0.9, 0.05, 0.05]] * 2 + [[0.4, 0.1, 0.5]] + [[0.1, 0.8, 0.1]] * 3)
    metrics = stage_metrics(3, "val")
    metrics.update(probs, targets)
    values = {k: float(v) for k, v in metrics.compute().items() if v.numel() == 1}
    assert values["val/uar"] == pytest.approx((2 / 3 + 1) / 2)
    assert values["val/auroc"] == pytest.approx(1.0)  # a and b are ranked perfectly
    assert values["val/auprc_macro"] == pytest.approx(1.0)
    f1_a, f1_b = 2 * 1 * (2 / 3) / (1 + 2 / 3), 1.0
    assert values["val/f1"] == pytest.approx((f1_a + f1_b) / 2)


def test_auroc_of_targets_with_one_class_is_undefined_not_zero() -> None:
    """With one class in the targets no class has both positives and negatives: no AUROC at all."""
    metrics = stage_metrics(2, "val")
    metrics.update(torch.tensor([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]), torch.tensor([0, 0, 0]))
    values = metrics.compute()
    assert torch.isnan(values["val/auroc"]), float(values["val/auroc"])
    assert float(values["val/uar"]) == pytest.approx(2 / 3)


def test_an_undefined_monitored_metric_does_not_stop_training(tmp_path: Path) -> None:
    """NaN val/auroc (a validation split with one class) counts as no improvement: the run goes on."""
    cfg = compose_cfg("train", tmp_path / "run", tmp_path / "cache", ["experiment=xray_pneumonia"])
    stopper = instantiate(cfg.callbacks.early_stopping)
    assert stopper.monitor == "val/auroc"
    should_stop, reason = stopper._evaluate_stopping_criteria(torch.tensor(float("nan")))
    assert not should_stop, reason
    assert not stopper._evaluate_stopping_criteria(torch.tensor(0.8))[0]


def test_a_class_with_one_speaker_has_no_interval() -> None:
    """Class b is one speaker, half of whose clips are right: every draw holds that speaker, so a
    percentile interval would be [0.5, 0.5]; it says nothing about other people, so it is undefined,
    and so is the UAR's, which averages over b. Class a, with five speakers, keeps its interval."""
    speakers = np.repeat(np.arange(6), 4)
    targets = torch.as_tensor(speakers == 5).long()
    preds = targets.clone()
    preds[[0, 5, 20, 21]] = 1 - preds[[0, 5, 20, 21]]
    report = multiclass_report(torch.eye(2)[preds], targets, speakers, ["a", "b"], n_boot=200)
    assert report["recall/b"] == 0.5
    assert report["recall/b_ci95"] is None and report["uar_ci95"] is None
    lo, hi = report["recall/a_ci95"]
    assert lo < report["recall/a"] < hi
    assert report["groups_per_class"] == {"a": 5, "b": 1}
    assert report["ci_undefined"] == {"uar": {"b": 1}, "recall/b": {"b": 1}}
