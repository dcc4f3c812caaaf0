"""Figures shared by training, evaluation and reports (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: runs on servers and in DataLoader workers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def confusion_figure(cm: np.ndarray, class_names: Sequence[str], title: str = "") -> Figure:
    """Confusion matrix as counts with row-normalised (recall) shading; rows are true classes."""
    cm = np.asarray(cm)
    recall = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(max(4.8, 1.0 + 0.75 * k), max(4.0, 0.8 + 0.65 * k)), dpi=100)
    ax.imshow(recall, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{cm[i, j]}\n{recall[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if recall[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix (shade = recall)", fontsize=9)
    fig.tight_layout()
    return fig
