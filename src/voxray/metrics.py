"""Recall-oriented classification metrics (torchmetrics; synced across DDP processes)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassAveragePrecision,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassRecall,
)


def stage_metrics(num_classes: int, prefix: str) -> MetricCollection:
    """Metrics of one stage, named `prefix/name` (val/uar, test/auroc, ...), updated with probs.

    uar (unweighted average recall = macro recall = balanced accuracy) is the headline metric: on
    imbalanced classes it rewards finding the rare ones, which accuracy does not.
    """
    k = num_classes
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(k, average="micro"),
            "uar": MulticlassRecall(k, average="macro"),
            "f1": MulticlassF1Score(k, average="macro"),
            "auroc": MulticlassAUROC(k, average="macro"),
            "auprc": MulticlassAveragePrecision(k, average="macro"),
            "recall": MulticlassRecall(k, average=None),
            "confmat": MulticlassConfusionMatrix(k),
        },
        prefix=f"{prefix}/",
    )


def flatten(values: dict[str, torch.Tensor], class_names: Sequence[str]) -> tuple[dict[str, float], dict]:
    """Split computed metrics into loggable scalars (per-class recall as `stage/recall/<class>`)
    and the rest (confusion matrices) as nested lists."""
    scalars, others = {}, {}
    for name, value in values.items():
        if name.endswith("/recall"):
            scalars.update({f"{name}/{c}": float(v) for c, v in zip(class_names, value)})
        elif value.numel() == 1:
            scalars[name] = float(value)
        else:
            others[name] = value.cpu().long().tolist()
    return scalars, others
