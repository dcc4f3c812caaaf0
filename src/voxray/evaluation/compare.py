"""Two models on the same test clips: the difference of their UARs, with a paired speaker bootstrap.

Each model's interval alone says little about which is better: on a few dozen speakers both
intervals are wide and overlap even when one model is right on every person the other is right on
and more. Drawing the same speakers for both models in every draw keeps what they share and leaves
the interval of the difference, at clip and at speaker level.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike

from voxray.evaluation.bootstrap import bootstrap_report, groups_per_class
from voxray.evaluation.metrics import decision_uar
from voxray.evaluation.speakers import speaker_scores


def _uar_gap(pred_a: torch.Tensor, pred_b: torch.Tensor, targets: torch.Tensor, k: int):
    """rows -> {"uar": UAR of a minus UAR of b on those rows}."""
    def stat(rows: np.ndarray) -> dict[str, float]:
        idx = torch.from_numpy(rows)
        y = targets[idx]
        return {"uar": float(decision_uar(pred_a[idx], y, k) - decision_uar(pred_b[idx], y, k))}
    return stat


def _gap_report(probs_a: np.ndarray, probs_b: np.ndarray, targets: np.ndarray, groups: ArrayLike | None,
                class_names: Sequence[str], n_boot: int, seed: int) -> dict:
    k = probs_a.shape[1]
    pred_a, pred_b = (torch.from_numpy(p.argmax(axis=1)) for p in (probs_a, probs_b))
    y = torch.tensor(targets, dtype=torch.long)  # a copy: pandas may hand over a read-only array
    stat = _uar_gap(pred_a, pred_b, y, k)
    counts = groups_per_class(targets, groups, class_names)  # a UAR needs every class present
    return bootstrap_report(stat(np.arange(len(y))), stat, targets, groups, n_boot, seed, counts)


def uar_difference(
    probs_a: ArrayLike, probs_b: ArrayLike, targets: ArrayLike, groups: ArrayLike, n_boot: int = 1000, seed: int = 0,
    class_names: Sequence[str] | None = None,
) -> dict:
    """UAR of model a minus UAR of model b over clips and over speakers, each with a 95% interval
    from draws of speakers shared by both models (stratified by class, as every CI in the project).

    Args:
        probs_a, probs_b: (N, k) clip probabilities of the two models, row i the same clip in both.
        targets: (N,) clip class indices.
        groups: (N,) speaker of each clip.
        n_boot: bootstrap draws (1000).
        seed: seed of the draws (0).
        class_names: the k class names (None: the class indices).

    Returns {"clip": a - b, "clip_ci95": [lo, hi], "speaker": a - b, "speaker_ci95": [lo, hi],
    "n_speakers": S, "speakers_per_class": {class: S_c}}. An interval above 0 says a is better on
    these speakers. Where a class has one speaker the intervals are None and "ci_undefined"
    ({class: speakers}) says which class.
    """
    probs_a, probs_b = np.asarray(probs_a, dtype=np.float64), np.asarray(probs_b, dtype=np.float64)
    targets = np.asarray(targets)
    if probs_a.shape != probs_b.shape or len(probs_a) != len(targets):
        raise ValueError(f"one row per clip in both models: {probs_a.shape}, {probs_b.shape}, targets {targets.shape}")
    names = list(class_names) if class_names is not None else [str(c) for c in range(probs_a.shape[1])]
    clip = _gap_report(probs_a, probs_b, targets, groups, names, n_boot, seed)
    sa, ya, _ = speaker_scores(probs_a, targets, groups)  # (S, k), (S,)
    sb, _, _ = speaker_scores(probs_b, targets, groups)
    person = _gap_report(sa, sb, ya, None, names, n_boot, seed)  # one row per speaker
    gap = {"clip": clip["uar"], "clip_ci95": clip["uar_ci95"], "speaker": person["uar"],
           "speaker_ci95": person["uar_ci95"], "n_speakers": len(ya), "speakers_per_class": person["groups_per_class"]}
    undefined = {c: n for r in (clip, person) for c, n in r.get("ci_undefined", {}).get("uar", {}).items()}
    return gap | ({"ci_undefined": undefined} if undefined else {})
