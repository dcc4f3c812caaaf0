"""Speaker-level evaluation: one decision per speaker from all of their clips.

A clip-level score counts a speaker with 40 clips forty times; what users want to know is how many
people the model gets right. Each speaker's clip probabilities are combined by their mean
log-probability (the product of the clips' likelihoods, as for independent observations), then
scored with the same metrics as clips, with intervals that resample speakers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike
from torchmetrics.functional.classification import multiclass_confusion_matrix

from voxray.evaluation.metrics import decision_uar, multiclass_report

_TINY = 1e-7  # floor under a probability before its log: a confident 0 must not be -inf


def speaker_scores(
    probs: ArrayLike, targets: ArrayLike, groups: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-speaker class probabilities from per-clip ones.

    Args:
        probs: (N, k) clip probabilities.
        targets: (N,) clip labels.
        groups: (N,) speaker of each clip.

    Returns (S, k) probabilities (softmax of the mean log-probability of the speaker's clips),
    (S,) labels (the most frequent label of the speaker's clips, ties to the lower) and (S,) speaker
    ids, in sorted speaker order.
    """
    probs = np.asarray(probs, dtype=np.float64)
    targets, groups = np.asarray(targets), np.asarray(groups)
    if not (len(probs) == len(targets) == len(groups)):
        raise ValueError(f"one row each: probs {probs.shape}, targets {targets.shape}, groups {groups.shape}")
    speakers, code = np.unique(groups, return_inverse=True)
    n_speakers, k = len(speakers), probs.shape[1]
    log_sum = np.zeros((n_speakers, k))
    np.add.at(log_sum, code, np.log(np.clip(probs, _TINY, 1.0)))
    mean_log = log_sum / np.bincount(code, minlength=n_speakers)[:, None]  # (S, k)
    speaker_probs = np.exp(mean_log - mean_log.max(axis=1, keepdims=True))
    speaker_probs /= speaker_probs.sum(axis=1, keepdims=True)
    labels = np.unique(targets, return_inverse=True)
    votes = np.zeros((n_speakers, len(labels[0])), dtype=np.int64)
    np.add.at(votes, (code, labels[1]), 1)
    return speaker_probs, labels[0][votes.argmax(axis=1)], speakers


def speaker_uar(probs: torch.Tensor, targets: torch.Tensor, groups: ArrayLike) -> float:
    """UAR of per-speaker decisions (no intervals): the validation metric of long-tailed data, where
    a clip-level score is mostly the few speakers with the most clips.

    Args:
        probs: (N, k) clip probabilities.
        targets: (N,) clip class indices.
        groups: (N,) speaker of each clip.
    """
    k = probs.shape[1]
    p, y, _ = speaker_scores(probs.float().cpu().numpy(), targets.cpu().numpy(), groups)
    return float(decision_uar(torch.from_numpy(p.argmax(axis=1)), torch.from_numpy(y).long(), k))


def speaker_report(
    probs: torch.Tensor, targets: torch.Tensor, groups: ArrayLike, class_names: Sequence[str], n_boot: int = 1000
) -> dict:
    """UAR, per-class recall (95% CIs over speakers) and confusion matrix of per-speaker decisions.

    Args:
        probs: (N, k) clip probabilities.
        targets: (N,) clip class indices.
        groups: (N,) speaker of each clip.
        class_names: the k class names.
        n_boot: bootstrap draws (1000).

    Returns `multiclass_report`'s keys for speakers, plus "confmat" (k, k) and "n_speakers".
    """
    p, y, _ = speaker_scores(probs.float().cpu().numpy(), targets.cpu().numpy(), groups)
    p, y = torch.from_numpy(p).float(), torch.from_numpy(y).long()
    report = multiclass_report(p, y, None, class_names, n_boot)  # each speaker is one row
    report.pop("n_groups")
    report["ci"] = report["ci"].replace("rows (no groups given)", "speakers")
    confmat = multiclass_confusion_matrix(p.argmax(dim=1), y, len(class_names))
    return {**report, "confmat": confmat.tolist(), "n_speakers": len(y)}
