"""Group-disjoint, label-stratified splits (speakers for voice, patients for X-ray)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from voxray.errors import UserError

SPLITS = ("train", "val", "test")
_DEALT = ("test", "val")  # the held-out parts, in the order groups are dealt to them
_PARTS = pd.array(["train", *_DEALT], dtype="str")  # part index -> name, the text dtype a column of names has


def group_split(
    labels: pd.Series, groups: pd.Series, val_fraction: float, test_fraction: float, seed: int
) -> pd.Series:
    """Assign each row to train/val/test so that every group lands in exactly one part.

    Groups are stratified by their majority label. Within each label, test and val each get their
    fraction of the label's groups (rounded; one at least when the label has three, so that train
    keeps one) and at most their fraction of its rows: the groups are shuffled (seeded) and dealt
    to test, then val, while the part has places left and the group fits its share of rows with
    room kept for the places still open; places that no group fits take the smallest groups left;
    the others go to train. So a speaker with more clips than a part's whole share stays in
    training, and the speaker-level scores of each class rest on its share of speakers, not on the
    one or two who recorded most. Deterministic given the seed and the rows; independent of their
    order, except that a group whose labels tie takes the one among them that comes first.

    Args:
        labels: class of each row.
        groups: speaker / patient id of each row.
        val_fraction: share of each class's groups and rows for validation (0.1).
        test_fraction: share of each class's groups and rows for test (0.1); 0 for none.
        seed: shuffling seed.
    Returns:
        a Series of split names aligned with `labels`.
    """
    fractions = _fractions(val_fraction, test_fraction)
    codes, names = pd.factorize(groups.astype(str), sort=True)  # groups numbered in name order
    if (codes < 0).any():
        raise ValueError("every row needs a group id; some are missing (NaN)")
    label, classes = pd.factorize(labels)
    part = _split_groups(codes, label, classes, len(names), fractions, seed)
    split = _PARTS.take(part[codes]) if len(codes) else np.array([], dtype=object)  # no rows: no text inferred
    return pd.Series(split, index=labels.index, name="split")


def _fractions(val_fraction: float, test_fraction: float) -> list[float]:
    """The held-out fractions in dealing order (`_DEALT`), checked."""
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError(
            f"fractions must be in [0, 1) with val+test < 1, got val={val_fraction} test={test_fraction}"
        )
    return [test_fraction, val_fraction]


def _split_groups(
    group: np.ndarray, label: np.ndarray, classes: pd.Index | np.ndarray, n_groups: int,
    fractions: list[float], seed: int,
) -> np.ndarray:
    """Each group's part (an index into `_PARTS`; -1 for a group without rows), as `group_split`
    describes, from each row's group (numbered in name order; -1: the row takes no part) and label
    (an index into `classes`; -1: none)."""
    sizes = np.bincount(group[group >= 0], minlength=n_groups)
    majority = _majority(group, label, n_groups)
    if ((majority < 0) & (sizes > 0)).any():
        raise ValueError("every group needs a labelled row; some have none (NaN labels)")
    part = np.full(n_groups, -1, dtype=np.int8)
    rng = np.random.default_rng(seed)
    # the classes in the order of their names as text (class 10 before class 2), one shuffle each
    for c in sorted(np.unique(majority[majority >= 0]), key=lambda c: str(classes[c])):
        members = np.flatnonzero(majority == c)  # in name order
        members = members[rng.permutation(len(members))]
        part[members] = _deal(sizes[members], fractions)
    return part


def _majority(group: np.ndarray, label: np.ndarray, n_groups: int) -> np.ndarray:
    """Each group's most frequent label (-1: no labelled row); a tie goes to the label that comes
    first in the group's rows, as `Series.value_counts` orders them."""
    majority = np.full(n_groups, -1, dtype=np.int64)
    rows = np.flatnonzero((group >= 0) & (label >= 0))
    if len(rows) == 0:
        return majority
    n_labels = int(label.max()) + 1
    pairs = group[rows].astype(np.int64) * n_labels + label[rows]
    pairs, first, count = np.unique(pairs, return_index=True, return_counts=True)  # first row of each pair
    group_of, label_of = pairs // n_labels, pairs % n_labels
    best = np.lexsort((first, -count, group_of))  # by group; the most rows, then the earliest, first
    best = best[np.r_[True, group_of[best][1:] != group_of[best][:-1]]]
    majority[group_of[best]] = label_of[best]
    return majority


def _deal(sizes: np.ndarray, fractions: list[float]) -> np.ndarray:
    """One class's groups (rows per group, in dealing order) -> part (0 train, then 1, 2, ... for
    `fractions` in `_DEALT` order), as `group_split` describes."""
    n, total, smallest = len(sizes), int(sizes.sum()), int(sizes.min())
    # each part's share of the groups, one at least where three or more let train keep one
    places = [max(int(np.floor(f * n + 0.5)), int(f > 0 and n >= 3)) for f in fractions]
    while sum(places) > n - 1 and any(places):
        places[places.index(max(places))] -= 1  # the first of the largest
    budget = [f * total for f in fractions]
    filled, taken = [0] * len(places), [0] * len(places)
    part = np.zeros(n, dtype=np.int8)
    # Sequential: whether a group fits depends on the groups dealt before it. Plain ints, and it
    # stops once every part has its places (the rest stay in train).
    for i, size in enumerate(sizes.tolist()):
        if taken == places:
            break
        for p, room in enumerate(budget):
            left = places[p] - taken[p] - 1  # places still open after this group's
            if left >= 0 and filled[p] + size + left * smallest <= room:
                part[i] = p + 1
                filled[p] += size
                taken[p] += 1
                break
    for p, want in enumerate(places):  # places no group fitted (classes of few, large groups): the smallest left
        if want > taken[p]:
            train = np.flatnonzero(part == 0)
            part[train[np.argsort(sizes[train], kind="stable")[: want - taken[p]]]] = p + 1
    return part


def check_group_disjoint(splits: pd.Series, groups: pd.Series, what: str = "speaker") -> None:
    """Raise a UserError naming the groups that appear in more than one split."""
    codes, names = pd.factorize(groups.astype(str), sort=True)
    parts, _ = pd.factorize(splits)  # -1: no split
    rows = (codes >= 0) & (parts >= 0)
    n_splits = max(int(parts.max(initial=0)) + 1, 1)
    pairs = np.unique(codes[rows].astype(np.int64) * n_splits + parts[rows])  # each (group, split) once
    n_parts = np.bincount(pairs // n_splits, minlength=len(names))
    leaked = names[n_parts > 1].tolist()
    if leaked:
        shown = ", ".join(leaked[:5]) + (" ..." if len(leaked) > 5 else "")
        raise UserError(
            f"{len(leaked)} {what}(s) appear in more than one split ({shown}); a {what} in two "
            f"parts leaks identity into evaluation. Fix the split files or let voxray split."
        )


def first_label_split(
    labels: pd.DataFrame, groups: pd.Series, val_fraction: float, test_fraction: float, seed: int
) -> pd.Series:
    """A group-disjoint split of rows labelled for several tasks (-1: no label), stratified on the
    first task's label where a group has one, otherwise on the next task's, and so on.

    The groups with a first-task label are split exactly as `group_split` splits those rows alone,
    so a joint age + gender model is tested on the same speakers and clips for age as an age-only
    model of the same seed; the groups without one (a gender but no age) are split by the next task.

    Args:
        labels: one column per task, in order, of class indices with -1 where a row lacks one.
        groups, val_fraction, test_fraction, seed: as for `group_split` (rows in the order of `labels`).
    Returns:
        a Series of split names aligned with `groups` (NaN for a group no task labels).
    """
    codes, names = pd.factorize(groups.astype(str), sort=True)
    if (codes < 0).any():
        raise ValueError("every row needs a group id; some are missing (NaN)")
    part = np.full(len(names), -1, dtype=np.int8)  # -1: no part yet
    for task in labels.columns:
        values = labels[task].to_numpy()
        rows = (values >= 0) & (part[codes] < 0)  # labelled rows of groups not split yet
        if rows.any():
            codes_here, classes = pd.factorize(values[rows])
            label = np.full(len(values), -1)
            label[rows] = codes_here
            dealt = _split_groups(np.where(rows, codes, -1), label, classes, len(names),
                                  _fractions(val_fraction, test_fraction), seed)
            part = np.where(dealt >= 0, dealt, part)
    split = _PARTS.take(part[codes], allow_fill=True)  # -1: NaN
    if len(split) and (part < 0).all():
        split = np.full(len(split), np.nan)  # no group has a part: a float column, as a lookup of none gives
    return pd.Series(split, index=groups.index, name="split")
