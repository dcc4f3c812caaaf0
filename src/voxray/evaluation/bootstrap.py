"""Percentile bootstrap confidence intervals that resample groups (patients, speakers), not rows.

The rows of one group (a speaker's clips, a patient's images) are not independent: resampling rows
counts one person many times over and gives intervals that are too narrow. Each draw resamples the
groups with replacement within each class stratum (a group's class is the majority label of its
rows, ties to the lower label), keeping the number of groups per stratum, and evaluates a
statistic on all rows of the drawn groups.

A class of one group is that group in every draw: its interval would be a point, or the spread of
one person's rows, and says nothing about other people. An interval that needs such a class is
undefined (None), and the report says which class and how many groups it has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

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


def groups_per_class(targets: ArrayLike, groups: ArrayLike | None, class_names: Sequence[str]) -> dict[str, int]:
    """{class: number of groups holding rows of it} of (N,) class indices `targets` and (N,) `groups`
    (None = each row its own group)."""
    targets = np.asarray(targets)
    pairs = np.unique(np.stack([targets, _group_codes(targets, groups)]), axis=1)  # (2, distinct class-group pairs)
    counts = np.bincount(pairs[0], minlength=len(class_names))
    return {c: int(n) for c, n in zip(class_names, counts)}


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
    n_boot: int = 1000, seed: int = 0, counts: Mapping[str, int] | None = None,
    needs: Mapping[str, Sequence[str]] | None = None,
) -> dict:
    """Point values, each followed by its `group_bootstrap_ci` interval, and how they were drawn.

    Args:
        point: {name: value} on all rows (None where undefined).
        stat, targets, groups, n_boot, seed: as for `group_bootstrap_ci`.
        counts: {class: groups holding it} (`groups_per_class`); None = no class is too small.
        needs: {name: the classes its value depends on}; a name left out depends on every class
            present (count > 0). An interval is None where one of its classes has a single group.

    Returns {"<name>": value, "<name>_ci95": [lo, hi] or None, ..., "n_groups": G, "ci": description},
    with counts "groups_per_class" and, where some interval is undefined, "ci_undefined":
    {name: {class: groups}} (the classes of too few groups that leave it undefined).
    """
    targets = np.asarray(targets)
    ci = group_bootstrap_ci(stat, targets, groups, n_boot, seed)
    counts, needs = dict(counts or {}), needs or {}
    present = [c for c, n in counts.items() if n > 0]
    report: dict = {}
    undefined: dict[str, dict[str, int]] = {}
    for name, value in point.items():
        report[name] = value
        too_few = {c: counts[c] for c in needs.get(name, present) if 0 < counts.get(c, 0) < 2}
        if too_few and value is not None:
            report[f"{name}_ci95"], undefined[name] = None, too_few
        elif name in ci:
            report[f"{name}_ci95"] = ci[name]
    n_groups = int(_group_codes(targets, groups).max() + 1)
    unit = "rows (no groups given)" if groups is None else "groups"
    report["n_groups"] = n_groups
    report["ci"] = f"95% percentile bootstrap over {n_groups} {unit}, stratified by class, {n_boot} draws"
    if counts:
        report["groups_per_class"] = counts
    if undefined:
        report["ci_undefined"] = undefined
    return report


def why_undefined(too_few: Mapping[str, int], unit: str = "group") -> str:
    """Why an interval is undefined, from its "ci_undefined" entry {class: groups}: "1 speaker in
    class m", or "1 speaker in each of classes teens, fifties"."""
    if len(too_few) == 1:
        (name, n), = too_few.items()
        return f"{n} {unit} in class {name}"
    return f"1 {unit} in each of classes {', '.join(too_few)}"
