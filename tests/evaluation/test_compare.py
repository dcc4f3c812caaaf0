"""Two models on the same clips: UAR differences with a paired speaker bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxray.evaluation.compare import uar_difference
from voxray.evaluation.metrics import multiclass_report
from voxray.evaluation.speakers import speaker_report


def _clips(right: dict[str, bool], n: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n clips per speaker ("f3", "m7", ...: class 0 for f, 1 for m), p(own class) 0.8 where right, 0.3 where not."""
    speakers = np.repeat(list(right), n)
    targets = np.array([0 if s.startswith("f") else 1 for s in speakers])
    own = np.array([0.8 if right[s] else 0.3 for s in speakers])
    probs = np.where(targets[:, None] == np.arange(2), own[:, None], 1 - own[:, None])  # (N, 2)
    return probs, targets, speakers


def test_a_model_right_on_every_person_the_other_gets_and_more_is_better_by_a_paired_interval() -> None:
    people = [f"f{i}" for i in range(10)] + [f"m{i}" for i in range(10)]
    a, targets, speakers = _clips(dict.fromkeys(people, True))
    b, _, _ = _clips({p: p not in {"m0", "m1", "m2"} for p in people})
    gap = uar_difference(a, b, targets, speakers, n_boot=500)
    assert gap["speaker"] == pytest.approx(1 - (1 + 0.7) / 2)
    lo, hi = gap["speaker_ci95"]
    assert 0 <= lo < gap["speaker"] < hi  # a is never worse in any draw of these speakers
    # Each model's own interval: b's reaches a's value, so they alone could not tell the two apart.
    own_b = speaker_report(torch.from_numpy(b).float(), torch.from_numpy(targets), speakers, ["f", "m"], 500)
    assert own_b["uar_ci95"][1] == pytest.approx(1.0)
    assert gap["n_speakers"] == 20


def test_the_clip_gap_is_the_difference_of_the_clip_uars_and_equal_models_differ_by_exactly_zero() -> None:
    right = {"f0": True, "f1": False, "f2": True, "m0": True, "m1": True, "m2": False}
    a, targets, speakers = _clips(right, n=4)
    b, _, _ = _clips(dict.fromkeys(right, True), n=4)
    gap = uar_difference(a, b, targets, speakers, n_boot=200)
    uar = [multiclass_report(torch.from_numpy(p).float(), torch.from_numpy(targets), speakers, ["f", "m"], 10)["uar"]
           for p in (a, b)]
    assert gap["clip"] == pytest.approx(uar[0] - uar[1])
    same = uar_difference(a, a, targets, speakers, n_boot=200)
    assert (same["clip"], same["speaker"], same["clip_ci95"], same["speaker_ci95"]) == (0, 0, [0, 0], [0, 0])


def test_models_must_score_the_same_clips() -> None:
    a, targets, speakers = _clips({"f0": True, "m0": True})
    with pytest.raises(ValueError, match="one row per clip"):
        uar_difference(a, a[:-1], targets, speakers)


def test_a_class_of_one_speaker_leaves_the_difference_without_interval() -> None:
    right = {"f0": True, "f1": False, "f2": True, "m0": True}
    a, targets, speakers = _clips(right)
    b, _, _ = _clips(dict.fromkeys(right, True))
    gap = uar_difference(a, b, targets, speakers, n_boot=100, class_names=["f", "m"])
    assert gap["clip_ci95"] is None and gap["speaker_ci95"] is None
    assert gap["speakers_per_class"] == {"f": 3, "m": 1} and gap["ci_undefined"] == {"m": 1}
