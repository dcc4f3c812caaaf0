"""Percentile bootstrap confidence intervals that resample groups (patients, speakers), not rows.

The rows of one group (a speaker's clips, a patient's images) are not independent: resampling rows
counts one person many times over and gives intervals that are too narrow. Each draw resamples the
groups with replacement within each class stratum (a group's class is the majority label of its
rows, ties to the lower label), keeping the number of groups per stratum, and evaluates a
statistic on all rows of the drawn groups.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

Stat = Callable[[np.ndarray], dict[str, float | None]]


def _group_codes(targets: np.ndarray, groups: ArrayLike | None) -> np.ndarray:
    """(N,) group index 0..G-1 of each row; each row its own group when `groups` is None."""
    if groups is None:
        return np.arange(len(targets))
    groups = np.asarray(groups)
    if groups.shape != targets.shape:
        raise ValueError(f"groups must have one entry per row: {groups.shape} vs targets {targets.shape}")
    return np.unique(groups, return_inverse=True)[1]


def group_bootstrap_ci(
    stat: Stat, targets: ArrayLike, groups: ArrayLike | None = None, n_boot: int = 1000, seed: int = 0
) -> dict[str, list[float]]:
    """95% percentile intervals of the values of `stat`, over draws of groups stratified by class.

    Args:
        stat: row indices (n,) -> {name: value}. A value that is None or left out (undefined in
            that draw, e.g. the recall of a class the draw lacks) is skipped for that draw.
        targets: (N,) class labels.
        groups: (N,) group of each row (patient, speaker); None = each row its own group.
        n_boot: number of draws (1000).
        seed: seed of the draws (0).

    Returns {name: [lo, hi]} for each name defined in at least one draw.
    """
    targets = np.asarray(targets)
    group = _group_codes(targets, groups)
    label = np.unique(targets, return_inverse=True)[1]
    votes = np.zeros((group.max() + 1, label.max() + 1), dtype=np.int64)  # (G, n_labels)
    np.add.at(votes, (group, label), 1)
    stratum = votes.argmax(axis=1)  # (G,) majority label, ties to the lower
    sizes = votes.sum(axis=1)  # (G,)
    starts = np.cumsum(sizes) - sizes
    order = np.argsort(group, kind="stable")  # group g: rows order[starts[g] : starts[g] + sizes[g]]

    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(stratum == s) for s in np.unique(stratum)]
    drawn = np.concatenate([m[rng.integers(0, len(m), (n_boot, len(m)))] for m in members], axis=1)  # (n_boot, G)
    values: dict[str, list[float]] = {}
    for g in drawn:
        n = sizes[g]
        within = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)  # position of each row in its group
        for name, value in stat(order[np.repeat(starts[g], n) + within]).items():
            if value is not None:
                values.setdefault(name, []).append(value)
    return {name: np.percentile(v, [2.5, 97.5]).tolist() for name, v in values.items()}


def bootstrap_report(
    point: dict[str, float | None], stat: Stat, targets: ArrayLike, groups: ArrayLike | None = None,
    n_boot: int = 1000, seed: int = 0,
) -> dict:
    """Point values, each followed by its `group_bootstrap_ci` interval, and how they were drawn.

    Args:
        point: {name: value} on all rows (None where undefined).
        stat, targets, groups, n_boot, seed: as for `group_bootstrap_ci`.

    Returns {"<name>": value, "<name>_ci95": [lo, hi], ..., "n_groups": G, "ci": description}.
    """
    targets = np.asarray(targets)
    ci = group_bootstrap_ci(stat, targets, groups, n_boot, seed)
    report: dict = {}
    for name, value in point.items():
        report[name] = value
        if name in ci:
            report[f"{name}_ci95"] = ci[name]
    n_groups = int(_group_codes(targets, groups).max() + 1)
    unit = "rows (no groups given)" if groups is None else "groups"
    report["n_groups"] = n_groups
    report["ci"] = f"95% percentile bootstrap over {n_groups} {unit}, stratified by class, {n_boot} draws"
    return report
