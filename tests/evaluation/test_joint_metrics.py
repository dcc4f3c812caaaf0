import numpy as np
import pytest
import torch

from voxray.evaluation.joint_metrics import mean_uar_reports
from voxray.evaluation.metrics import multiclass_report
from voxray.evaluation.speakers import speaker_report


def _speakers(n_speakers: int = 30, clips: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(N, 3) noisy probabilities, (N,) labels and (N,) speakers: each speaker one label, clips of one mind."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_speakers) % 3, clips)
    groups = np.repeat([f"s{i:02d}" for i in range(n_speakers)], clips)
    logits = rng.normal(size=(len(labels), 3)) + 1.5 * np.eye(3)[labels] * rng.random((len(labels), 1))
    return torch.tensor(logits).softmax(dim=1).float(), torch.tensor(labels), groups


def test_two_copies_of_one_task_have_that_tasks_own_intervals() -> None:
    """The same speakers are drawn for both tasks: the mean of two identical tasks is the task, interval
    included (drawn apart, the mean of two would be narrower)."""
    probs, y, groups = _speakers()
    clips, people = mean_uar_reports([probs, probs], torch.stack([y, y], dim=1), groups, n_boot=200)
    alone = multiclass_report(probs, y, groups, ["a", "b", "c"], n_boot=200)
    assert clips["uar"] == pytest.approx(alone["uar"]) and clips["uar_ci95"] == pytest.approx(alone["uar_ci95"])
    assert clips["n_groups"] == 30
    one = speaker_report(probs, y, groups, ["a", "b", "c"], n_boot=200)
    assert people["uar"] == pytest.approx(one["uar"]) and people["uar_ci95"] == pytest.approx(one["uar_ci95"])
    assert people["n_speakers"] == 30 and "speakers" in people["ci"]


def test_a_task_is_scored_only_on_the_clips_that_carry_its_label() -> None:
    """Task b is perfect where it has a label and wrong where it has none (half the speakers): its UAR
    is 1 in every draw, so the mean is (UAR of a + 1) / 2 and its interval about half as wide as a's."""
    probs, y, groups = _speakers()
    speaker = np.unique(groups, return_inverse=True)[1]
    y_b = torch.tensor(speaker % 2)  # a two-class task
    probs_b = torch.nn.functional.one_hot(y_b, 2).float()
    unlabelled = torch.tensor(speaker >= 15)
    probs_b[unlabelled] = 1 - probs_b[unlabelled]
    targets = torch.stack([y, torch.where(unlabelled, -1, y_b)], dim=1)
    clips, people = mean_uar_reports([probs, probs_b], targets, groups, n_boot=200)
    a = multiclass_report(probs, y, groups, ["a", "b", "c"], n_boot=200)
    assert clips["uar"] == pytest.approx((a["uar"] + 1) / 2)
    (lo, hi), (lo_a, hi_a) = clips["uar_ci95"], a["uar_ci95"]
    assert lo < clips["uar"] < hi and 0.3 < (hi - lo) / (hi_a - lo_a) < 0.7
    assert people["n_speakers"] == 30


def test_without_speakers_there_is_no_speaker_level_and_shapes_are_checked() -> None:
    probs, y, _ = _speakers()
    clips, people = mean_uar_reports([probs, probs], torch.stack([y, y], dim=1), None, n_boot=20)
    assert people is None and clips["n_groups"] == len(y)
    with pytest.raises(ValueError, match="one \\(N, k\\) probability tensor per target column"):
        mean_uar_reports([probs], torch.stack([y, y], dim=1), None)


def test_a_class_of_one_speaker_in_any_task_leaves_the_mean_without_interval() -> None:
    """Task b's class "y" is one speaker: the mean of the tasks' UARs averages over it, so neither
    level has an interval; the speakers of each task's classes say why."""
    probs, y, groups = _speakers()
    speaker = np.unique(groups, return_inverse=True)[1]
    y_b = torch.tensor(speaker == 0).long()
    probs_b = torch.nn.functional.one_hot(y_b, 2).float()
    names = {"a": ["p", "q", "r"], "b": ["x", "y"]}
    clips, people = mean_uar_reports([probs, probs_b], torch.stack([y, y_b], dim=1), groups, n_boot=50,
                                     class_names=names)
    for report in (clips, people):
        assert report["uar_ci95"] is None and report["ci_undefined"] == {"uar": {"b/y": 1}}
        assert report["groups_per_class"] == {"a/p": 10, "a/q": 10, "a/r": 10, "b/x": 29, "b/y": 1}
