"""Speaker-level evaluation: one decision per speaker from the mean log-probability of their clips."""

import numpy as np
import pandas as pd
import pytest
import torch

from voxray.evaluation.metrics import multiclass_report
from voxray.evaluation.speakers import speaker_report, speaker_scores, speaker_uar
from voxray.reporting.predictions import predictions_table

CLASSES = ["female", "male"]


def _clips() -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """F1: 8 clips, 6 right; F2: 2 clips, both wrong; M1: 5 clips, all right (p(female) per clip)."""
    p_female = [0.9] * 6 + [0.4] * 2 + [0.3] * 2 + [0.2] * 5
    probs = torch.tensor([[p, 1 - p] for p in p_female])
    targets = torch.tensor([0] * 10 + [1] * 5)
    groups = np.array(["F1"] * 8 + ["F2"] * 2 + ["M1"] * 5)
    return probs, targets, groups


def test_a_speaker_is_decided_by_the_mean_log_probability_of_their_clips() -> None:
    probs, targets, groups = _clips()
    p, y, speakers = speaker_scores(probs.numpy(), targets.numpy(), groups)
    assert list(speakers) == ["F1", "F2", "M1"] and list(y) == [0, 0, 1]
    log_f = (6 * np.log(0.9) + 2 * np.log(0.4)) / 8
    log_m = (6 * np.log(0.1) + 2 * np.log(0.6)) / 8
    assert p[0, 0] == pytest.approx(np.exp(log_f) / (np.exp(log_f) + np.exp(log_m)))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_speaker_level_counts_people_not_clips() -> None:
    probs, targets, groups = _clips()
    clips = multiclass_report(probs, targets, groups, CLASSES, n_boot=200)
    people = speaker_report(probs, targets, groups, CLASSES, n_boot=200)
    assert clips["uar"] == pytest.approx((6 / 10 + 1) / 2)  # F1's majority outweighs F2
    assert people["uar"] == pytest.approx((1 / 2 + 1) / 2)  # one of two women is missed
    assert people["n_speakers"] == 3 and people["confmat"] == [[1, 1], [0, 1]]
    assert "3 speakers" in people["ci"]
    # one man: no interval for his class nor for the UAR, and the page and metrics.json say why
    assert people["groups_per_class"] == {"female": 2, "male": 1}
    assert people["uar_ci95"] is None and people["recall/male_ci95"] is None
    assert people["ci_undefined"] == {"uar": {"male": 1}, "recall/male": {"male": 1}}
    lo, hi = people["recall/female_ci95"]
    assert lo <= people["recall/female"] <= hi
    assert speaker_uar(probs, targets, groups) == people["uar"]  # the per-epoch validation figure


def test_a_confident_zero_does_not_decide_a_speaker_alone() -> None:
    """One clip at p=0 (log = -inf unclipped) must not outvote nine confident ones."""
    probs = torch.tensor([[0.0, 1.0]] + [[0.99, 0.01]] * 9)
    p, _, _ = speaker_scores(probs.numpy(), np.zeros(10, dtype=int), np.array(["s"] * 10))
    assert p[0, 0] > 0.5 and np.isfinite(p).all()


def test_predictions_table_lists_every_row_with_its_speaker_and_decision() -> None:
    probs, targets, groups = _clips()
    rows = pd.DataFrame({"path": [f"c{i}.mp3" for i in range(15)], "group": groups,
                         "label_name": [CLASSES[t] for t in targets]})
    table = predictions_table(rows, probs.numpy(), CLASSES, "speaker")
    assert list(table.columns) == ["path", "speaker", "label", "pred", "prob/female", "prob/male"]
    assert (table["pred"] == "female").sum() == 6
    screening = predictions_table(rows, probs.numpy(), CLASSES, "speaker", decision=(0, 0.35))
    assert (screening["pred_at_threshold"] == "female").sum() == 8  # p >= 0.35: the 0.4 clips too
