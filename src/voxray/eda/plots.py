"""Figure builders shared by the voice and X-ray EDA (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from voxray.data.splits import SPLITS

NCOLS = 8  # histogram grid width: 46 voice features fit in 6 rows


def count_bars(columns: Mapping[str, tuple[pd.Series, Sequence[str]]], splits: pd.Series) -> Figure:
    """Per column: total counts of each value (top, annotated) and counts per split (bottom).

    Args:
        columns: panel title -> (values aligned with `splits`, the order to draw the values in).
        splits: split name of each row.
    """
    fig, axes = plt.subplots(2, len(columns), figsize=(7 * len(columns), 8), squeeze=False)
    present = [s for s in SPLITS if (splits == s).any()]
    for col, (title, (values, order)) in enumerate(columns.items()):
        counts = pd.crosstab(values, splits).reindex(index=list(order), columns=present, fill_value=0)
        bars = axes[0, col].bar(counts.index, counts.sum(axis=1), color="tab:gray")
        axes[0, col].bar_label(bars, fontsize=8)
        axes[0, col].set(title=f"{title}: all splits", ylabel="count")
        counts.plot.bar(ax=axes[1, col], rot=0, width=0.8)
        axes[1, col].set(title=f"{title}: per split", ylabel="count", xlabel="")
        for ax in axes[:, col]:
            ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    return fig


def distribution_grid(values: pd.DataFrame, groups: pd.Series, flagged: pd.Series | None = None) -> Figure:
    """One histogram per column of `values`, one outline per group, normalised to density.

    Args:
        values: (n, features) table.
        groups: group name of each row (e.g. gender).
        flagged: outliers per column, shown in the subplot title when non-zero.
    """
    nrows = -(-values.shape[1] // NCOLS)
    fig, axes = plt.subplots(nrows, NCOLS, figsize=(2.6 * NCOLS, 2.1 * nrows), squeeze=False)
    names = sorted(groups.unique(), key=str)
    for ax, column in zip(axes.flat, values.columns):
        column_values = values[column].to_numpy()
        bins = np.histogram_bin_edges(column_values[np.isfinite(column_values)], bins=30)
        for name in names:
            part = column_values[(groups == name).to_numpy()]
            ax.hist(part, bins=bins, histtype="step", density=True, lw=1.2, label=str(name))
        n_out = 0 if flagged is None else int(flagged[column])
        ax.set_title(column + (f"  [{n_out} out]" if n_out else ""), fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_yticks([])
    for ax in axes.flat[values.shape[1] :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def heatmap(matrix: pd.DataFrame) -> Figure:
    """A correlation matrix in [-1, 1], every row and column labelled."""
    k = len(matrix)
    fig, ax = plt.subplots(figsize=(4 + 0.22 * k, 3 + 0.2 * k))
    image = ax.imshow(matrix.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(k), matrix.columns, rotation=90, fontsize=6)
    ax.set_yticks(range(k), matrix.index, fontsize=6)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01, label="Spearman rho")
    fig.tight_layout()
    return fig


def mean_images(
    means: Mapping[str, np.ndarray], counts: Mapping[str, int], pairwise: bool,
    cmap: str = "magma", origin: str = "lower", axis_labels: tuple[str, str] | None = None,
) -> Figure:
    """Group means and their differences: with two groups and `pairwise`, one row (a, b, b − a);
    otherwise the means in a row and, below, each minus the mean of all groups.

    Args:
        means: group name -> mean image (H, W), all of one shape.
        counts: group name -> items averaged.
        pairwise: show the difference of two groups rather than each against the average.
        cmap: colour map of the means ("magma" for spectrograms, "gray" for radiographs).
        origin: "lower" for spectrograms (low frequencies at the bottom), "upper" for images.
        axis_labels: (x, y) axis labels; None hides the ticks (images).
    """
    names = list(means)
    stack = np.stack([means[n] for n in names])  # (k, H, W)
    if pairwise and len(names) == 2:
        diffs = {f"{names[1]} − {names[0]}": stack[1] - stack[0]}
        grid = [[*names, *diffs]]
    else:
        diffs = {f"{n} − all": stack[i] - stack.mean(0) for i, n in enumerate(names)}
        grid = [names, list(diffs)]
    ncols = max(len(row) for row in grid)
    fig, axes = plt.subplots(len(grid), ncols, figsize=(3.8 * ncols, 3.3 * len(grid)), squeeze=False)
    low, high = np.percentile(stack, [1, 99])
    limit = max(float(np.abs(d).max()) for d in diffs.values()) or 1.0
    for ax, name in zip(axes.flat, [name for row in grid for name in row + [None] * (ncols - len(row))]):
        if name is None:
            ax.axis("off")
            continue
        if name in means:
            image = ax.imshow(means[name], cmap=cmap, origin=origin, aspect="auto", vmin=low, vmax=high)
            ax.set_title(f"{name} (n={counts[name]})", fontsize=9)
        else:
            image = ax.imshow(diffs[name], cmap="RdBu_r", origin=origin, aspect="auto",
                              vmin=-limit, vmax=limit)
            ax.set_title(f"{name} (difference)", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
        if axis_labels is None:
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1])
    fig.tight_layout()
    return fig
