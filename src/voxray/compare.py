"""Two models on the same test clips: the difference of their UARs, with a paired speaker bootstrap.

Each model's interval alone says little about which is better: on a few dozen speakers both
intervals are wide and overlap even when one model is right on every person the other is right on
and more. Drawing the same speakers for both models in every draw keeps what they share and leaves
the interval of the difference, at clip and at speaker level.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike

from voxray.bootstrap import bootstrap_report
from voxray.metrics import decision_uar
from voxray.speakers import speaker_scores


def _uar_gap(pred_a: torch.Tensor, pred_b: torch.Tensor, targets: torch.Tensor, k: int):
    """rows -> {"uar": UAR of a minus UAR of b on those rows}."""
    def stat(rows: np.ndarray) -> dict[str, float]:
        idx = torch.from_numpy(rows)
        y = targets[idx]
        return {"uar": float(decision_uar(pred_a[idx], y, k) - decision_uar(pred_b[idx], y, k))}
    return stat


def _gap_report(probs_a: np.ndarray, probs_b: np.ndarray, targets: np.ndarray, groups: ArrayLike | None,
                n_boot: int, seed: int) -> dict:
    k = probs_a.shape[1]
    pred_a, pred_b = (torch.from_numpy(p.argmax(axis=1)) for p in (probs_a, probs_b))
    y = torch.tensor(targets, dtype=torch.long)  # a copy: pandas may hand over a read-only array
    stat = _uar_gap(pred_a, pred_b, y, k)
    return bootstrap_report(stat(np.arange(len(y))), stat, targets, groups, n_boot, seed)


def uar_difference(
    probs_a: ArrayLike, probs_b: ArrayLike, targets: ArrayLike, groups: ArrayLike, n_boot: int = 1000, seed: int = 0,
) -> dict:
    """UAR of model a minus UAR of model b over clips and over speakers, each with a 95% interval
    from draws of speakers shared by both models (stratified by class, as every CI in the project).

    Args:
        probs_a, probs_b: (N, k) clip probabilities of the two models, row i the same clip in both.
        targets: (N,) clip class indices.
        groups: (N,) speaker of each clip.
        n_boot: bootstrap draws (1000).
        seed: seed of the draws (0).

    Returns {"clip": a - b, "clip_ci95": [lo, hi], "speaker": a - b, "speaker_ci95": [lo, hi],
    "n_speakers": S}. An interval above 0 says a is better on these speakers.
    """
    probs_a, probs_b = np.asarray(probs_a, dtype=np.float64), np.asarray(probs_b, dtype=np.float64)
    targets = np.asarray(targets)
    if probs_a.shape != probs_b.shape or len(probs_a) != len(targets):
        raise ValueError(f"one row per clip in both models: {probs_a.shape}, {probs_b.shape}, targets {targets.shape}")
    clip = _gap_report(probs_a, probs_b, targets, groups, n_boot, seed)
    sa, ya, _ = speaker_scores(probs_a, targets, groups)  # (S, k), (S,)
    sb, _, _ = speaker_scores(probs_b, targets, groups)
    person = _gap_report(sa, sb, ya, None, n_boot, seed)  # one row per speaker
    return {"clip": clip["uar"], "clip_ci95": clip["uar_ci95"], "speaker": person["uar"],
            "speaker_ci95": person["uar_ci95"], "n_speakers": len(ya)}
