"""ROC and precision-recall curves of the test probabilities, each with its operating point marked."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_average_precision,
    binary_precision_recall_curve,
    binary_roc,
)

from voxray.html_report.run_files import TaskView
from voxray.reporting.plots import plt


def operating_points(task: TaskView) -> dict[str, tuple[float, float, float]]:
    """{class: (false positive rate, recall, precision)} of the decisions the run reports.

    A screening model: its positive class at its threshold (the `at_threshold`
    block). Otherwise every class one-vs-rest under argmax decisions (from the confusion matrix).
    """
    s, names = task.prefix, task.class_names
    at = task.metrics.get(f"{s}/at_threshold")
    positive = task.positive
    if at and positive is not None:
        return {positive: (1 - at["specificity"], at["sensitivity"], at["precision"])}
    cm = np.asarray(task.metrics[f"{s}/confmat"], dtype=float)  # (k, k), rows true
    points = {}
    for i, name in enumerate(names):
        tp, fn, fp = cm[i, i], cm[i].sum() - cm[i, i], cm[:, i].sum() - cm[i, i]
        negatives = cm.sum() - cm[i].sum()
        if tp + fn and negatives:
            points[name] = (fp / negatives, tp / (tp + fn), tp / (tp + fp) if tp + fp else float("nan"))
    return points


def roc_pr_figure(task: TaskView) -> Figure:
    """ROC (left) and precision-recall (right), one-vs-rest per class, a screening model's positive
    class alone; a dot marks the operating point, AUROC and average precision in the legend."""
    labels, probs = task.labels_and_probs()
    points = operating_points(task)
    shown = list(points) if task.threshold is not None else task.class_names
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=100)
    for name in shown:
        i = task.class_names.index(name)
        target = (labels == i).long()
        if target.min() == target.max():
            continue  # a class absent from the test split (or the only one) has no curve
        score = probs[:, i]
        fpr, tpr, _ = binary_roc(score, target)
        precision, recall, _ = binary_precision_recall_curve(score, target)
        line = roc_ax.plot(fpr, tpr, label=f"{name} (AUROC {float(binary_auroc(score, target)):.3f})")[0]
        pr_ax.plot(recall, precision, color=line.get_color(),
                   label=f"{name} (AP {float(binary_average_precision(score, target)):.3f})")
        if name in points:
            x, y, p = points[name]
            roc_ax.plot([x], [y], "o", color=line.get_color(), markeredgecolor="black")
            pr_ax.plot([y], [p], "o", color=line.get_color(), markeredgecolor="black")
    roc_ax.plot([0, 1], [0, 1], ":", color="grey")
    roc_ax.set(xlabel="false positive rate (1 - specificity)", ylabel="true positive rate (recall)")
    pr_ax.set(xlabel="recall", ylabel="precision", ylim=(0, 1.02))
    for ax in (roc_ax, pr_ax):
        ax.legend(fontsize=7, loc="lower right" if ax is roc_ax else "lower left")
    kind = "positive class" if task.threshold is not None else "one-vs-rest per class"
    fig.suptitle(f"ROC and precision-recall, {kind}; dot = operating point\n{task.caption()}", fontsize=9)
    fig.tight_layout()
    return fig
