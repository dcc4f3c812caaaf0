import numpy as np
import pandas as pd
import pytest

from voxray.checks import UserError
from voxray.data.splits import check_group_disjoint, group_split


def make(n_groups: int = 60, seed: int = 0) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    groups, labels = [], []
    for g in range(n_groups):
        k = int(rng.integers(1, 8))
        groups += [f"g{g}"] * k
        labels += [int(rng.choice(3, p=[0.6, 0.3, 0.1]))] * k
    return pd.Series(labels), pd.Series(groups)


def test_split_is_group_disjoint_stratified_and_deterministic() -> None:
    labels, groups = make()
    a = group_split(labels, groups, 0.2, 0.2, seed=1)
    check_group_disjoint(a, groups)
    assert a.equals(group_split(labels, groups, 0.2, 0.2, seed=1))
    assert not a.equals(group_split(labels, groups, 0.2, 0.2, seed=2))
    for label in range(3):  # every class is represented in every part, near its fraction
        share = a[labels == label].value_counts(normalize=True)
        assert set(share.index) == {"train", "val", "test"}
        assert abs(share["test"] - 0.2) < 0.15


def test_split_does_not_depend_on_row_order() -> None:
    labels, groups = make()
    order = np.random.default_rng(0).permutation(len(labels))
    a = group_split(labels, groups, 0.15, 0.15, seed=3)
    b = group_split(labels.iloc[order], groups.iloc[order], 0.15, 0.15, seed=3)
    assert a.equals(b.sort_index())


def test_leak_is_refused_with_the_speaker_named() -> None:
    splits = pd.Series(["train", "train", "test", "val"])
    groups = pd.Series(["a", "b", "b", "c"])
    # a mistake in the data, not a bug: one line for the user (UserError), no traceback
    with pytest.raises(UserError, match=r"1 speaker\(s\).*\(b\)"):
        check_group_disjoint(splits, groups)


def test_bad_fractions() -> None:
    labels, groups = make(5)
    with pytest.raises(ValueError, match="fractions"):
        group_split(labels, groups, 0.6, 0.5, seed=0)
