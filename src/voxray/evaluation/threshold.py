"""A screening model's threshold over a run: where it comes from, each validation epoch's choice,
and the metrics at it (`stage/at_threshold/...`) that the model logs and reports.

The model holds the threshold (a buffer, so it travels in the checkpoint) and logs what these
functions return; `voxray.evaluation.decision` holds the decision rule they use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from numpy.typing import ArrayLike

from voxray.evaluation.decision import binary_metrics, binary_report, choose_threshold, fixed_threshold

# where the threshold comes from, written to the checkpoint, metrics.json and the figures
CHOSEN, FIXED = "chosen on validation", "set by model.decision.threshold"
INITIAL = "left at 0.5: no validation epoch held both classes"


def initial_threshold(decision: Mapping[str, Any] | None) -> tuple[float, str]:
    """The threshold before any validation epoch and where it comes from: the config's, or 0.5."""
    fixed = fixed_threshold(decision)
    return (0.5, INITIAL) if fixed is None else (fixed, FIXED)


def epoch_threshold(scores: torch.Tensor, targets: torch.Tensor, target_sensitivity: float) -> float | None:
    """This validation epoch's threshold (`choose_threshold`), or None for an epoch of one class
    (a validation cut short, e.g. by `trainer.limit_val_batches`), on which none can be chosen.

    Args:
        scores: (N,) probability of the positive class.
        targets: (N,) 0/1.
        target_sensitivity: the recall of positives to guarantee.
    """
    positives = int(targets.sum())
    if 0 < positives < len(targets):
        return choose_threshold(scores, targets, target_sensitivity)
    return None


def validation_scalars(scores: torch.Tensor, targets: torch.Tensor, threshold: torch.Tensor) -> dict[str, Any]:
    """`val/at_threshold/{threshold,sensitivity,specificity}`, to log each validation epoch.

    Args:
        scores: (N,) probability of the positive class.
        targets: (N,) 0/1.
        threshold: () the model's threshold, logged as it is.
    """
    at = binary_metrics(scores, targets, float(threshold))
    # "at_threshold" in the name: per-class recall (`val/recall/<class>`) is of argmax decisions
    return {"val/at_threshold/threshold": threshold,
            "val/at_threshold/sensitivity": at["sensitivity"],
            "val/at_threshold/specificity": at["specificity"]}


def operating_points(
    stage: str, scores: torch.Tensor, targets: torch.Tensor, threshold: torch.Tensor, threshold_from: str,
    groups: ArrayLike | None, n_boot: int,
) -> tuple[dict[str, dict], dict[str, Any]]:
    """Both operating points of a test, at the threshold and at 0.5, with 95% CIs (`binary_report`).

    Args:
        stage: the metric prefix ("test").
        scores: (N,) probability of the positive class.
        targets: (N,) 0/1.
        threshold: () the model's threshold, logged as it is.
        threshold_from: where it comes from (CHOSEN, FIXED or INITIAL).
        groups: (N,) patient (or speaker) of each row; None = each row its own group.
        n_boot: bootstrap draws.

    Returns the reports `{stage}/at_threshold` and `{stage}/at_0.5`, and the scalars to log.
    """
    reports = {name: binary_report(scores, targets, t, groups, n_boot)
               for name, t in (("at_threshold", float(threshold)), ("at_0.5", 0.5))}
    reports["at_threshold"]["threshold_from"] = threshold_from
    at = reports["at_threshold"]
    scalars = {f"{stage}/at_threshold/sensitivity": at["sensitivity"],
               f"{stage}/at_threshold/specificity": at["specificity"],
               f"{stage}/at_threshold/threshold": threshold, f"{stage}/auprc": at["auprc"]}
    return {f"{stage}/{k}": v for k, v in reports.items()}, scalars
