import numpy as np
import pandas as pd
import pytest

from tests.helpers.tables import AGE_CLASSES, AGE_MAP, GENDER_CLASSES, GENDER_MAP, fingerprint, label_table, raw_table
from voxray.data.splits import check_group_disjoint, first_label_split, group_split
from voxray.data.voice.commonvoice import apply_label_maps
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


# The exact split of seeded random tables (long-tailed speakers, ties in majority labels, twelve
# classes whose names sort differently as text, a class of a few speakers), pinned so that a faster
# implementation must reproduce every row's part: (table arguments, val, test, seed) -> fingerprint.
PINNED_SPLITS = {
    "ints": (dict(seed=0), 0.15, 0.15, 0, "0aa9246941d7922f"),
    "twelve classes": (dict(seed=1, n_classes=12, mixed=0.3), 0.1, 0.2, 5, "97e6b3ff56767921"),
    "text labels, no test": (dict(seed=2, text_labels=True), 0.15, 0.0, 3, "306df55cbaa02dd0"),
    "few speakers a class": (dict(seed=3, n_speakers=40, n_classes=6, mixed=0.5), 0.3, 0.3, 1, "0897192a9af6ba57"),
    "many speakers": (dict(seed=4, n_speakers=2000, n_classes=5, mixed=0.3), 0.15, 0.15, 7, "7a96b1c1dccd49bc"),
}


@pytest.mark.parametrize("case", PINNED_SPLITS)
def test_split_of_random_tables_is_pinned(case: str) -> None:
    table_args, val, test, seed, pinned = PINNED_SPLITS[case]
    table = label_table(**table_args)
    assert fingerprint(group_split(table["label"], table["group"], val, test, seed)) == pinned


PINNED_JOINT_SPLITS = {"all rows": (slice(None), "6b92b0880cd3831e"),
                       "every third row": (slice(None, None, 3), "821f4e889ec850ca")}


@pytest.mark.parametrize("case", PINNED_JOINT_SPLITS)
def test_joint_split_of_a_random_table_is_pinned(case: str) -> None:
    rows, pinned = PINNED_JOINT_SPLITS[case]
    table, _ = apply_label_maps(raw_table(5), {"age": (AGE_MAP, AGE_CLASSES), "gender": (GENDER_MAP, GENDER_CLASSES)})
    table = table.iloc[rows]
    split = first_label_split(table[["label/age", "label/gender"]], table["client_id"], 0.15, 0.15, 2)
    assert fingerprint(split) == pinned


def test_leak_message_is_pinned() -> None:
    """Seven leaked speakers: the first five named in sorted order; a blank split is no part."""
    groups = pd.Series([f"s{i}" for i in (9, 3, 11, 5, 7, 1, 2, 0, 3, 11, 5, 7, 1, 2, 9, 4, 4)])
    splits = pd.Series(["train"] * 8 + ["val"] * 4 + ["test"] * 3 + ["val", None])
    with pytest.raises(UserError) as error:
        check_group_disjoint(splits, groups)
    assert str(error.value).startswith("7 speaker(s) appear in more than one split (s1, s11, s2, s3, s5 ...)")
    check_group_disjoint(splits.iloc[:8], groups.iloc[:8])
