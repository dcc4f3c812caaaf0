"""Group-disjoint, label-stratified splits (speakers for voice, patients for X-ray)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from voxray.checks import UserError

SPLITS = ("train", "val", "test")


def group_split(
    labels: pd.Series, groups: pd.Series, val_fraction: float, test_fraction: float, seed: int
) -> pd.Series:
    """Assign each row to train/val/test so that every group lands in exactly one part.

    Groups are stratified by their majority label: within each label, the groups are shuffled
    (seeded) and dealt to test, then val, until each part holds its fraction of that label's rows.
    Deterministic given the seed and the input rows (order-independent).

    Args:
        labels: class of each row.
        groups: speaker / patient id of each row.
        val_fraction: share of rows for validation (0.1).
        test_fraction: share of rows for test (0.1); 0 for none.
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
        total = int(sizes[members].sum())
        targets = [("test", test_fraction * total), ("val", val_fraction * total)]
        filled = {"test": 0, "val": 0}
        for g in members:
            part = next((p for p, want in targets if filled[p] + sizes[g] / 2 <= want), "train")
            if part != "train":
                filled[part] += int(sizes[g])
            part_of[g] = part
    return pd.Series([part_of[g] for g in frame["group"]], index=labels.index, name="split")


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
