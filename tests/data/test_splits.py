import numpy as np
import pandas as pd
import pytest

from voxray.data.splits import check_group_disjoint, group_split
from voxray.errors import UserError


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


def long_tail(n_classes: int = 3, prolific: int = 3, few: int = 37) -> tuple[pd.Series, pd.Series]:
    """Each class: a few speakers with 40-60 clips and many with 1-3, as in Common Voice."""
    rng = np.random.default_rng(0)
    groups, labels = [], []
    for label in range(n_classes):
        sizes = [*rng.integers(40, 61, prolific), *rng.integers(1, 4, few)]
        for i, k in enumerate(sizes):
            groups += [f"c{label}s{i}"] * int(k)
            labels += [label] * int(k)
    return pd.Series(labels), pd.Series(groups)


@pytest.mark.parametrize("seed", range(8))
def test_each_class_gets_its_share_of_speakers_not_one_prolific_speaker(seed: int) -> None:
    """A part filled by clip count alone takes one 50-clip speaker for a 35-clip share: a validation
    class of one or two speakers, whose speaker-level UAR moves by half with one of them."""
    labels, groups = long_tail()
    split = group_split(labels, groups, 0.15, 0.15, seed)
    check_group_disjoint(split, groups)
    for label in range(3):
        rows = labels == label
        n_speakers, n_rows = groups[rows].nunique(), int(rows.sum())
        for part in ("val", "test"):
            mine = rows & (split == part)
            assert groups[mine].nunique() >= int(0.15 * n_speakers), (
                f"class {label}, {part}: {groups[mine].nunique()} of {n_speakers} speakers")
            # at most its share of the clips: the prolific speakers, each over the whole share, stay in train
            assert mine.sum() <= 0.15 * n_rows
            assert groups[mine].value_counts().max() <= 3


def test_a_class_of_two_speakers_keeps_one_for_training() -> None:
    labels = pd.Series([0] * 4 + [1] * 40)
    groups = pd.Series(["a", "a", "b", "b"] + [f"m{i // 2}" for i in range(40)])
    split = group_split(labels, groups, 0.45, 0.45, seed=0)
    assert (split[labels == 0] == "train").any()
    assert set(split[labels == 1]) == {"train", "val", "test"}


def test_a_class_of_three_speakers_has_one_in_each_part() -> None:
    """No speaker fits a 15% share of three equal speakers' clips: the parts take one each anyway,
    so every class is scored in validation and test (and the data report warns how thin that is)."""
    labels = pd.Series([0] * 9 + [1] * 60)
    groups = pd.Series([f"f{i // 3}" for i in range(9)] + [f"m{i // 3}" for i in range(60)])
    split = group_split(labels, groups, 0.15, 0.15, seed=0)
    assert split[labels == 0].value_counts().to_dict() == {"train": 3, "val": 3, "test": 3}
