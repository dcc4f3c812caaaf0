"""The report's bar and line figures: per-class recall with its 95% CIs, learning curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from voxray.html_report.run_files import TaskView
from voxray.reporting.plots import plt


def recall_series(task: TaskView) -> list[tuple[str, list[float | None], list[list[float] | None]]]:
    """(label, recall per class, 95% CI per class) of each decision the run reports: argmax per
    row, at the threshold (specificity is the negative class's recall), one per speaker."""
    m, s, names = task.metrics, task.prefix, task.class_names
    series = [("argmax, per row", [m.get(f"{s}/recall/{c}") for c in names],
               [m.get(f"{s}/recall/{c}_ci95") for c in names])]
    at = m.get(f"{s}/at_threshold")
    positive = task.positive
    if at and len(names) == 2 and positive is not None:
        keys = ["sensitivity" if c == positive else "specificity" for c in names]
        series.append((f"p >= {at['threshold']:.4g}, per row", [at[k] for k in keys],
                       [at.get(f"{k}_ci95") for k in keys]))
    speaker = m.get(f"{s}/speaker")
    if speaker:
        series.append(("argmax, per speaker", [speaker.get(f"recall/{c}") for c in names],
                       [speaker.get(f"recall/{c}_ci95") for c in names]))
    return series


def recall_figure(task: TaskView) -> Figure:
    """Bars of each class's recall, whiskers at its 95% CI, one bar colour per decision; "n/a"
    where the split has no row of the class."""
    series, names = recall_series(task), task.class_names
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(min(10.0, max(6.5, 2 + 0.5 * len(names) * len(series))), 3.8), dpi=100)
    x = np.arange(len(names))
    for j, (label, values, cis) in enumerate(series):
        pos = x + (j - (len(series) - 1) / 2) * width
        v = np.array([np.nan if a is None else a for a in values], dtype=float)
        lo = np.array([v[i] - c[0] if c else 0.0 for i, c in enumerate(cis)])
        hi = np.array([c[1] - v[i] if c else 0.0 for i, c in enumerate(cis)])
        ax.bar(pos, v, width, label=label, yerr=np.clip([lo, hi], 0, None), capsize=3)
        for p in pos[np.isnan(v)]:  # no row of the class in the split: undefined, not zero
            ax.text(p, 0.02, "n/a", ha="center", fontsize=7, rotation=90)
    ax.set_xticks(x, names, rotation=30 if len(names) > 3 else 0)
    ax.set_xlim(-0.5, len(names) - 0.5)  # all classes, also a last one without a bar (n/a)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("recall")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: covers no bar or n/a
    ax.set_title(f"Recall per class with 95% CI\n{task.caption()}", fontsize=9)
    fig.tight_layout()
    return fig


def learning_figure(epochs: pd.DataFrame, monitor: str, best_epoch: int | None, checkpoint: str,
                    tasks: Sequence[str] = ()) -> Figure:
    """Training and validation loss, and the monitored validation metric, by epoch (from 0).

    A joint model's monitor is the mean over its `tasks`: each task's own value is drawn beside it
    (`val/speaker/uar` -> `val/age/speaker/uar`, `val/gender/speaker/uar`).
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    for column in ("train/loss", "val/loss"):
        if column in epochs:
            left.plot(epochs["epoch"], epochs[column], marker="o", label=column)
    left.set_ylabel("loss")
    stage, _, metric = monitor.partition("/")
    for column in [monitor, *(f"{stage}/{task}/{metric}" for task in tasks)]:
        if column in epochs:
            right.plot(epochs["epoch"], epochs[column], marker="o", label=column,
                       **({"color": "tab:green"} if column == monitor else {"alpha": 0.7, "markersize": 3}))
    right.set_ylabel(monitor)
    for ax in (left, right):
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", label=f"{checkpoint} (tested)")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    fig.suptitle(f"Learning curves: train and val splits by epoch; the tested checkpoint {checkpoint} dashed",
                 fontsize=9)
    fig.tight_layout()
    return fig
