"""Group-disjoint, label-stratified splits (speakers for voice, patients for X-ray)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from voxray.errors import UserError

SPLITS = ("train", "val", "test")


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
    one or two who recorded most. Deterministic given the seed and the rows (order-independent).

    Args:
        labels: class of each row.
        groups: speaker / patient id of each row.
        val_fraction: share of each class's groups and rows for validation (0.1).
        test_fraction: share of each class's groups and rows for test (0.1); 0 for none.
        seed: shuffling seed.
    Returns:
        a Series of split names aligned with `labels`.
    """
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError(
            f"fractions must be in [0, 1) with val+test < 1, got val={val_fraction} test={test_fraction}"
        )
    frame = pd.DataFrame({"label": labels.to_numpy(), "group": groups.astype(str).to_numpy()})
    sizes = frame.groupby("group").size()
    majority = frame.groupby("group")["label"].agg(lambda s: s.value_counts().index[0])
    rng = np.random.default_rng(seed)
    part_of: dict[str, str] = {}
    for label in sorted(majority.unique(), key=str):
        members = sorted(majority.index[majority == label])
        members = [members[i] for i in rng.permutation(len(members))]
        part_of.update(_deal(sizes[members], {"test": test_fraction, "val": val_fraction}))
    return pd.Series([part_of[g] for g in frame["group"]], index=labels.index, name="split")


def _deal(sizes: pd.Series, fractions: dict[str, float]) -> dict[str, str]:
    """One class's groups (rows per group, in dealing order) -> part, as `group_split` describes."""
    n, total, smallest = len(sizes), int(sizes.sum()), int(sizes.min())
    # each part's share of the groups, one at least where three or more let train keep one
    places = {p: max(int(np.floor(f * n + 0.5)), int(f > 0 and n >= 3)) for p, f in fractions.items()}
    while sum(places.values()) > n - 1 and any(places.values()):
        places[max(places, key=places.get)] -= 1
    budget = {p: f * total for p, f in fractions.items()}
    filled, taken = dict.fromkeys(fractions, 0), dict.fromkeys(fractions, 0)
    part_of = dict.fromkeys(sizes.index, "train")
    for group, size in sizes.items():
        for p in fractions:
            left = places[p] - taken[p] - 1  # places still open after this group's
            if left >= 0 and filled[p] + size + left * smallest <= budget[p]:
                part_of[group] = p
                filled[p] += int(size)
                taken[p] += 1
                break
    for p in fractions:  # places no group fitted (classes of few, large groups): the smallest left
        train = sizes[[part_of[g] == "train" for g in sizes.index]]
        for group in train.sort_values(kind="stable").index[: places[p] - taken[p]]:
            part_of[group] = p
    return part_of


def check_group_disjoint(splits: pd.Series, groups: pd.Series, what: str = "speaker") -> None:
    """Raise a UserError naming the groups that appear in more than one split."""
    parts = pd.DataFrame({"split": splits.to_numpy(), "group": groups.astype(str).to_numpy()})
    n_parts = parts.groupby("group")["split"].nunique()
    leaked = n_parts[n_parts > 1].index.tolist()
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
        groups, val_fraction, test_fraction, seed: as for `group_split`.
    Returns:
        a Series of split names aligned with `labels`.
    """
    groups = groups.astype(str)
    part_of: dict[str, str] = {}
    for task in labels.columns:
        rows = (labels[task] >= 0) & ~groups.isin(list(part_of))
        if rows.any():
            split = group_split(labels.loc[rows, task], groups[rows], val_fraction, test_fraction, seed)
            part_of.update(zip(groups[rows], split))
    return groups.map(part_of).rename("split")
