"""Recall-oriented classification metrics (torchmetrics), computed once per evaluation epoch.

One definition per name:
- uar: unweighted average recall = mean recall over the classes present in the targets, which is
  scikit-learn's `balanced_accuracy_score` (the baseline's search metric). A class that only
  the predictions contain is left out; torchmetrics' macro recall would count it as recall 0.
- recall/<class>: recall of that class; undefined (None) where the targets lack it.
- f1, auroc, auprc_macro: F1, AUROC and average precision of each class against the rest, averaged,
  as the UAR, over the classes present in the targets: a class the targets lack has none of them
  (torchmetrics' macro averages would count it as 0). AUROC needs negatives too: with a single
  class in the targets it is undefined (NaN; null in metrics.json). Binary screening tasks report
  the positive class's average precision as `auprc` (`voxray.evaluation.decision`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassAveragePrecision,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassRecall,
)
from torchmetrics.functional.classification import multiclass_recall
from torchmetrics.utilities import dim_zero_cat

from voxray.evaluation.bootstrap import bootstrap_report, groups_per_class


def present_class_mean(recall: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """UAR: the mean of per-class `recall` (k,) over the classes whose `support` (k,) is > 0."""
    return recall[support > 0].mean()


def decision_uar(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """UAR of class decisions (N,) against targets (N,): the mean recall over the classes present."""
    recall = multiclass_recall(preds, targets, num_classes, average=None)  # (k,)
    return present_class_mean(recall, torch.bincount(targets, minlength=num_classes))


class _PresentClassMean:
    """Mixin for a torchmetrics per-class metric: `compute` is the mean of its per-class values over
    the classes it is defined for (`defined`), NaN where there is none.

    Args:
        num_classes: number of classes.
        **kwargs: passed to the metric (not `average`: the per-class values are averaged here).
    """

    num_classes: int

    def __init__(self, num_classes: int, **kwargs: Any) -> None:
        super().__init__(num_classes, average=None, **kwargs)

    def support(self) -> torch.Tensor:
        """(k,) number of target rows of each class."""
        # the curve metrics (AUROC, AP) keep every target row (thresholds=None)
        return torch.bincount(dim_zero_cat(self.target), minlength=self.num_classes)

    def defined(self, support: torch.Tensor) -> torch.Tensor:
        """(k,) bool: the classes whose value exists, those present in the targets."""
        return support > 0

    def compute(self) -> torch.Tensor:
        with warnings.catch_warnings():  # torchmetrics warns of the absent classes left out here
            warnings.filterwarnings("ignore", message="No (positive|negative) samples")
            values = super().compute()  # (k,)
        return values[self.defined(self.support())].mean()


class PresentClassRecall(_PresentClassMean, MulticlassRecall):
    """UAR as a torchmetrics object: macro recall over the classes present in the targets."""

    def support(self) -> torch.Tensor:
        tp, _, _, fn = self._final_state()
        return tp + fn


class PresentClassF1(_PresentClassMean, MulticlassF1Score):
    """Macro F1 over the classes present in the targets: a class only predicted has no recall, so no F1."""

    def support(self) -> torch.Tensor:
        tp, _, _, fn = self._final_state()
        return tp + fn


class PresentClassAveragePrecision(_PresentClassMean, MulticlassAveragePrecision):
    """Macro average precision (one class against the rest) over the classes present in the targets."""


class PresentClassAUROC(_PresentClassMean, MulticlassAUROC):
    """Macro AUROC (one class against the rest) over the classes that have both positives and
    negatives: NaN when the targets hold a single class."""

    def defined(self, support: torch.Tensor) -> torch.Tensor:
        return (support > 0) & (support < support.sum())


def stage_metrics(num_classes: int, prefix: str) -> MetricCollection:
    """Metrics of one stage, named `prefix/name` (val/uar, test/auroc, ...), updated with probs.

    uar is the headline metric: on imbalanced classes it rewards finding the rare ones, which
    accuracy does not. They are updated once per epoch with the outputs already gathered from
    every process (each example once), so they must not synchronise again.
    """
    k, local = num_classes, {"sync_on_compute": False}
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(k, average="micro", **local),
            "uar": PresentClassRecall(k, **local),
            "f1": PresentClassF1(k, **local),
            "auroc": PresentClassAUROC(k, **local),
            "auprc_macro": PresentClassAveragePrecision(k, **local),
            "recall": MulticlassRecall(k, average=None, **local),
            "confmat": MulticlassConfusionMatrix(k, **local),
        },
        prefix=f"{prefix}/",
    )


@torch.inference_mode()
def multiclass_report(
    probs: torch.Tensor, targets: torch.Tensor, groups: ArrayLike | None, class_names: Sequence[str],
    n_boot: int = 1000, seed: int = 0,
) -> dict:
    """UAR and per-class recall of argmax decisions, with 95% confidence intervals over groups.

    Args:
        probs: (N, k) class probabilities.
        targets: (N,) class indices.
        groups: (N,) speaker of each row; None = each row its own group.
        class_names: the k class names.
        n_boot: bootstrap draws (1000).
        seed: seed of the draws (0).

    Returns {"uar": value, "uar_ci95": [lo, hi], "recall/<class>": value or None,
    "recall/<class>_ci95": [lo, hi], ..., "n_groups": G, "ci": how the intervals were drawn,
    "groups_per_class": {class: G_c}}; an interval that needs a class of one group is None, and
    "ci_undefined" names that class (`bootstrap_report`).
    """
    k = len(class_names)
    preds, targets = probs.argmax(dim=1).cpu(), targets.long().cpu()  # (N,), (N,)

    def stat(rows: np.ndarray) -> dict[str, float | None]:
        idx = torch.from_numpy(rows)
        recall = multiclass_recall(preds[idx], targets[idx], k, average=None)  # (k,)
        support = torch.bincount(targets[idx], minlength=k)  # (k,)
        uar = float(present_class_mean(recall, support))
        return {"uar": uar} | {f"recall/{c}": float(r) if n > 0 else None  # None: no row of class c
                               for c, r, n in zip(class_names, recall, support)}

    counts = groups_per_class(targets.numpy(), groups, class_names)
    needs = {f"recall/{c}": [c] for c in class_names}  # the UAR needs every class present
    return bootstrap_report(stat(np.arange(len(targets))), stat, targets.numpy(), groups, n_boot, seed, counts, needs)


def split_scalars(values: dict[str, torch.Tensor], class_names: Sequence[str]) -> tuple[dict[str, float], dict]:
    """Split computed metrics into loggable scalars (per-class recall as `stage/recall/<class>`,
    only for classes the targets contain: elsewhere it is undefined) and the rest (confusion
    matrices) as nested lists."""
    scalars, others = {}, {}
    confmat = next((v for n, v in values.items() if n.endswith("/confmat")), None)
    present = confmat.sum(dim=1) > 0 if confmat is not None else [True] * len(class_names)
    for name, value in values.items():
        if name.endswith("/recall"):
            scalars.update({f"{name}/{c}": float(v) for c, v, p in zip(class_names, value, present) if p})
        elif value.numel() == 1:
            scalars[name] = float(value)
        else:
            others[name] = value.cpu().long().tolist()
    return scalars, others
