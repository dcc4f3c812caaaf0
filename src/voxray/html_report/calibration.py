"""Reliability diagram of the test probabilities with torchmetrics' expected calibration error."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from torchmetrics.functional.classification import multiclass_calibration_error

from voxray.html_report.run_files import TaskView
from voxray.reporting.plots import plt

N_BINS = 10


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = N_BINS) -> float:
    """Top-label ECE (L1, equal-width confidence bins) of (N, k) probabilities and (N,) labels."""
    return float(multiclass_calibration_error(probs, labels, probs.shape[1], n_bins=n_bins, norm="l1"))


def reliability_bins(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = N_BINS) -> tuple[np.ndarray, ...]:
    """Per confidence bin, binned as torchmetrics bins: (bin centres, mean confidence, accuracy, rows);
    confidence and accuracy are NaN in an empty bin. Confidence 1.0, a bin of its own in
    torchmetrics, is drawn in the top bin."""
    confidence, pred = probs.max(dim=1)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=confidence.dtype)
    which = (torch.bucketize(confidence, edges, right=True) - 1).clamp(max=n_bins - 1).numpy()
    correct = (pred == labels).double().numpy()
    confidence = confidence.double().numpy()
    rows = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore"):
        mean_conf = np.bincount(which, confidence, n_bins) / rows
        accuracy = np.bincount(which, correct, n_bins) / rows
    centres = (edges[:-1] + edges[1:]).double().numpy() / 2
    return centres, mean_conf, accuracy, rows


def reliability_figure(task: TaskView) -> tuple[Figure, float]:
    """Accuracy against confidence of the argmax class per bin, bar width = bin, with the rows per
    bin below, over the rows that carry the task's label; returns the figure and the ECE its title states."""
    labels, probs = task.labels_and_probs()
    ece = expected_calibration_error(probs, labels)
    centres, mean_conf, accuracy, rows = reliability_bins(probs, labels)
    width = 1 / N_BINS
    fig, (ax, count_ax) = plt.subplots(2, 1, figsize=(5.2, 5.2), dpi=100, height_ratios=[3, 1], sharex=True)
    ax.bar(centres, np.nan_to_num(accuracy), width, edgecolor="black", alpha=0.7, label="accuracy in bin")
    ax.plot(mean_conf, accuracy, "o", color="tab:red", label="mean confidence in bin")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    ax.set(ylabel="accuracy", ylim=(0, 1.02), xlim=(0, 1))
    ax.legend(fontsize=7, loc="upper left")
    count_ax.bar(centres, rows, width, edgecolor="black", color="grey")
    count_ax.set(xlabel="confidence (probability of the argmax class)", ylabel="rows")
    ax.set_title(f"Reliability, ECE {ece:.4f} ({N_BINS} bins, torchmetrics)\n{task.caption()}", fontsize=9)
    fig.tight_layout()
    return fig, ece
