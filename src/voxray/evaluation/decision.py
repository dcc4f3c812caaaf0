"""Binary decisions for screening: one decision rule, a threshold chosen for sensitivity, metrics
with confidence intervals over groups (patients).

`decide` (score >= threshold) is the only comparison: metrics, predictions, Grad-CAM and the
exported model.json all decide with it, so a threshold means the same everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
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

from voxray.errors import UserError
from voxray.evaluation.bootstrap import bootstrap_report, groups_per_class

CLASSES = ("negative", "positive")  # the names of targets 0 and 1 in a report's group counts
NEEDS = {"sensitivity": ["positive"], "specificity": ["negative"]}  # every other metric needs both classes


def decide(scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Positive decisions: `scores >= threshold`, the one comparison every decision uses.

    Args:
        scores: (N,) probability of the positive class.
        threshold: the decision threshold.

    Returns (N,) bool.
    """
    return scores >= threshold


def choose_threshold(scores: torch.Tensor, targets: torch.Tensor, target_sensitivity: float = 0.95) -> float:
    """The threshold with the highest specificity among those whose sensitivity >= target.

    A screening test must not miss the disease, so sensitivity is the constraint and specificity
    the objective; ties go to the most sensitive (lowest) threshold. The value returned lies
    midway between the lowest score counted positive and the next lower score, a margin for
    scores not seen here; with no lower score it is that score itself. It is a value of the scores'
    dtype for which `decide` reproduces the chosen operating point exactly. Both classes must be
    present: with one, every threshold meets (or misses) the target alike, and a ValueError says so.

    Args:
        scores: (N,) probability of the positive class.
        targets: (N,) 0/1.
        target_sensitivity: the recall of positives to guarantee on this set (0.95).
    """
    if not 0 < target_sensitivity <= 1:
        raise ValueError(f"target_sensitivity must be in (0, 1], got {target_sensitivity}")
    targets = targets.long()
    n_pos = int(targets.sum())
    if n_pos == 0 or n_pos == len(targets):
        raise ValueError(f"choosing a threshold needs both classes, got {len(targets) - n_pos} negatives "
                         f"and {n_pos} positives")
    # thresholds: 1.0, then the distinct scores descending; tpr and fpr count score >= threshold
    fpr, tpr, thresholds = binary_roc(scores, targets)
    ok = (tpr.double() * n_pos).round() >= target_sensitivity * n_pos - 1e-6  # in counts: no float drift
    spec = torch.where(ok, 1 - fpr, torch.full_like(fpr, -1.0))
    # last index = lowest threshold among the best; the leading 1.0 has sensitivity 0, never chosen
    idx = int(torch.nonzero(spec == spec.max())[-1])
    upper = thresholds[idx]
    if idx + 1 == len(thresholds):
        return float(upper)
    mid = (upper + thresholds[idx + 1]) / 2  # in the scores' dtype, so float(mid) is exact there
    return float(mid if mid > thresholds[idx + 1] else upper)  # adjacent floats: mid rounds onto lower


def fixed_threshold(decision: Mapping[str, Any] | None) -> float | None:
    """The threshold a screening config fixes (`model.decision.threshold`), or None: chosen on validation."""
    value = (decision or {}).get("threshold")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"model.decision.threshold must be a probability in [0, 1] or null (chosen on validation), "
                         f"got {value!r}")
    return float(value)


def positive_index(decision: Mapping[str, Any], class_names: Sequence[str], joint: bool) -> int:
    """The index of a screening config's `positive_class` (`model.decision.positive_class`) in `class_names`.

    Args:
        decision: the screening config.
        class_names: the model's class names.
        joint: whether the model is a joint one (several tasks), which has no single positive class.
    """
    if joint:
        raise ValueError("decision (a screening threshold) needs a single-task model, not a joint one")
    if decision["positive_class"] not in class_names:
        raise ValueError(f"decision.positive_class must be one of {class_names}")
    return class_names.index(decision["positive_class"])


def require_both_classes(counts: ArrayLike, class_names: Sequence[str], positive: int,
                         val_fraction: float | None = None) -> None:
    """Raise a UserError unless the validation split holds the positive class and another one.

    Args:
        counts: (k,) validation rows per class.
        class_names: the k class names.
        positive: index of the positive class.
        val_fraction: the data config's validation share, named in the message when given.
    """
    counts = np.asarray(counts)
    if 0 < int(counts[positive]) < int(counts.sum()):
        return
    held = ", ".join(f"{int(n)} {c}" for c, n in zip(class_names, counts))
    now = "" if val_fraction is None else f" (now {val_fraction})"
    raise UserError(
        f"the validation split holds {held}: the screening threshold is chosen on validation and needs both "
        f"classes; raise data.val_fraction{now}, add data, or set the threshold yourself with "
        "model.decision.threshold=0.5"
    )


def binary_metrics(
    scores: torch.Tensor, targets: torch.Tensor, threshold: float, *, validate_args: bool = True
) -> dict[str, float]:
    """Sensitivity, specificity, precision, F1, F2, balanced accuracy of `decide(scores, threshold)`;
    threshold-free AUROC and AUPRC (average precision of the positive class).

    A value a class the targets lack makes meaningless is NaN, not the 0 torchmetrics returns:
    sensitivity, F1, F2 and AUPRC without positives, specificity without negatives, AUROC without
    either; balanced accuracy is then the recall of the class present (the UAR's rule).

    Args:
        scores: (N,) probability of the positive class.
        targets: (N,) 0/1.
        threshold: the decision threshold.
        validate_args: whether torchmetrics checks the inputs (True); bootstrap draws of inputs
            already checked skip it, a third of their time.
    """
    t = targets.long()
    v = validate_args
    n_pos = int(t.sum())
    has_pos, has_neg = n_pos > 0, n_pos < len(t)
    nan = float("nan")
    # integer predictions: torchmetrics applies its own `> threshold` to float inputs only
    pred = decide(scores, threshold).long()
    sens = float(binary_recall(pred, t, validate_args=v)) if has_pos else nan
    spec = float(binary_specificity(pred, t, validate_args=v)) if has_neg else nan
    return {
        "sensitivity": sens,
        "specificity": spec,
        "precision": float(binary_precision(pred, t, validate_args=v)),
        "f1": float(binary_f1_score(pred, t, validate_args=v)) if has_pos else nan,
        "f2": float(binary_fbeta_score(pred, t, beta=2.0, validate_args=v)) if has_pos else nan,
        "balanced_accuracy": float(np.nanmean([sens, spec])),
        "auroc": float(binary_auroc(scores, t, validate_args=v)) if has_pos and has_neg else nan,
        "auprc": float(binary_average_precision(scores, t, validate_args=v)) if has_pos else nan,
    }


@torch.inference_mode()
def binary_report(
    scores: torch.Tensor, targets: torch.Tensor, threshold: float, groups: ArrayLike | None = None,
    n_boot: int = 1000, seed: int = 0,
) -> dict:
    """`binary_metrics` with 95% confidence intervals over groups and the confusion matrix.

    Args:
        scores: (N,) probability of the positive class.
        targets: (N,) 0/1.
        threshold: the decision threshold.
        groups: (N,) patient (or speaker) of each row; None = each row its own group.
        n_boot: bootstrap draws (1000).
        seed: seed of the draws (0).

    Returns {"threshold": t, "confmat": [[tn, fp], [fn, tp]], "<metric>": value (None where
    undefined), "<metric>_ci95": [lo, hi], ..., "n_groups": G, "ci": how the intervals were drawn,
    "groups_per_class": {"negative": G_0, "positive": G_1}}; an interval that needs a class of one
    group is None, and "ci_undefined" names that class (`bootstrap_report`).
    """
    scores, targets = scores.cpu(), targets.long().cpu()

    def stat(rows: np.ndarray) -> dict[str, float | None]:
        idx = torch.from_numpy(rows)
        return _nan_as_none(binary_metrics(scores[idx], targets[idx], threshold, validate_args=False))

    confmat = binary_confusion_matrix(decide(scores, threshold).long(), targets)
    point = _nan_as_none(binary_metrics(scores, targets, threshold))
    counts = groups_per_class(targets.numpy(), groups, CLASSES)
    return {"threshold": threshold, "confmat": confmat.tolist()} | bootstrap_report(
        point, stat, targets.numpy(), groups, n_boot, seed, counts, NEEDS)


def _nan_as_none(metrics: dict[str, float]) -> dict[str, float | None]:
    """An undefined metric (NaN) as None: the bootstrap skips it in a draw, metrics.json writes null."""
    return {k: None if math.isnan(v) else v for k, v in metrics.items()}
