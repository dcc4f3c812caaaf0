"""Binary decisions for screening: a threshold chosen for sensitivity, metrics with bootstrap CIs."""

from __future__ import annotations

import torch
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_average_precision,
    binary_confusion_matrix,
    binary_f1_score,
    binary_fbeta_score,
    binary_precision,
    binary_recall,
    binary_roc,
    binary_specificity,
)


def choose_threshold(scores: torch.Tensor, targets: torch.Tensor, target_sensitivity: float = 0.95) -> float:
    """The threshold with the highest specificity among those whose sensitivity >= target.

    A screening test must not miss the disease, so sensitivity is the constraint and specificity
    the objective. Ties go to the higher threshold (fewer positives). The value returned lies
    midway between the last score counted positive and the next lower one, so `score > t` and
    `score >= t` decide alike (torchmetrics uses >). With one class only, 0.5.

    Args:
        scores: (N,) probability of the positive class.
        targets: (N,) 0/1.
        target_sensitivity: the recall of positives to guarantee on this set (0.95).
    """
    if not 0 < target_sensitivity <= 1:
        raise ValueError(f"target_sensitivity must be in (0, 1], got {target_sensitivity}")
    targets = targets.long()
    if targets.sum() == 0 or targets.sum() == len(targets):
        return 0.5
    fpr, tpr, thresholds = binary_roc(scores.float(), targets)  # thresholds descending
    ok = tpr >= target_sensitivity - 1e-9
    spec = torch.where(ok, 1 - fpr, torch.full_like(fpr, -1.0))
    best = spec.max()
    # first index = highest threshold among the best; torchmetrics' first threshold is 1.0 (none
    # positive), which cannot reach a sensitivity > 0, so it is never chosen
    idx = int(torch.nonzero(spec == best)[0])
    lower = thresholds[idx + 1] if idx + 1 < len(thresholds) else thresholds[idx] - 1e-6
    return float(((thresholds[idx] + lower) / 2).clamp(0, 1))


def binary_metrics(scores: torch.Tensor, targets: torch.Tensor, threshold: float) -> dict[str, float]:
    """Sensitivity, specificity, precision, F1, F2, balanced accuracy at `threshold`; AUROC, AUPRC."""
    t = targets.long()
    sens = binary_recall(scores, t, threshold=threshold)
    spec = binary_specificity(scores, t, threshold=threshold)
    return {
        "sensitivity": float(sens),
        "specificity": float(spec),
        "precision": float(binary_precision(scores, t, threshold=threshold)),
        "f1": float(binary_f1_score(scores, t, threshold=threshold)),
        "f2": float(binary_fbeta_score(scores, t, beta=2.0, threshold=threshold)),
        "balanced_accuracy": float((sens + spec) / 2),
        "auroc": float(binary_auroc(scores, t)),
        "auprc": float(binary_average_precision(scores, t)),
    }


def binary_report(
    scores: torch.Tensor, targets: torch.Tensor, threshold: float, n_boot: int = 1000, seed: int = 0
) -> dict:
    """`binary_metrics` with percentile bootstrap 95% confidence intervals and the confusion matrix.

    Returns {"threshold": t, "confmat": [[tn, fp], [fn, tp]], "<metric>": value,
    "<metric>_ci95": [lo, hi], ...}.
    """
    scores, targets = scores.float().cpu(), targets.long().cpu()
    point = binary_metrics(scores, targets, threshold)
    gen = torch.Generator().manual_seed(seed)
    draws: dict[str, list[float]] = {k: [] for k in point}
    n = len(scores)
    for _ in range(n_boot):
        idx = torch.randint(0, n, (n,), generator=gen)
        if targets[idx].min() == targets[idx].max():
            continue  # a resample with one class has no AUROC; skip it (rare for real test sets)
        for k, v in binary_metrics(scores[idx], targets[idx], threshold).items():
            draws[k].append(v)
    report: dict = {"threshold": threshold, "confmat": binary_confusion_matrix(scores, targets, threshold).tolist()}
    for k, v in point.items():
        report[k] = v
        if draws[k]:
            q = torch.quantile(torch.tensor(draws[k]), torch.tensor([0.025, 0.975]))
            report[f"{k}_ci95"] = [float(q[0]), float(q[1])]
    return report
