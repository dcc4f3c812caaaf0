"""The data report's summaries of a split table, pinned on seeded random tables so that a faster
implementation must give the same dicts (keys, order, values and their Python types)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.helpers.tables import AGE_CLASSES, AGE_MAP, GENDER_CLASSES, GENDER_MAP, fingerprint, raw_table
from voxray.data.splits import SPLITS, first_label_split
from voxray.data.summary import group_check, group_sizes, groups_report, per_class
from voxray.data.voice.commonvoice import apply_label_maps

TASKS = ["age", "gender"]


def split_table(seed: int, n_speakers: int) -> pd.DataFrame:
    """A joint age + gender table split by speaker, as the voice DataModule plans it."""
    maps = {"age": (AGE_MAP, AGE_CLASSES), "gender": (GENDER_MAP, GENDER_CLASSES)}
    table, _ = apply_label_maps(raw_table(seed, n_speakers), maps)
    table["group"] = table["client_id"]
    table["split"] = first_label_split(table[[f"label/{t}" for t in TASKS]], table["group"], 0.15, 0.15, seed)
    return table


def report(table: pd.DataFrame) -> dict:
    """What `ArrayDataModule._report` computes from the table, for a joint and an age-only model."""
    age = table[table["label/age"] >= 0].assign(label_name=lambda t: t["label_name/age"])
    return {
        "per_class": per_class(table, "label_name"),
        "per_class_of_task": {t: per_class(table[table[f"label/{t}"] >= 0], f"label_name/{t}") for t in TASKS},
        "rows_per_speaker": {s: group_sizes(table.loc[table["split"] == s, "group"], "speaker") for s in SPLITS},
        "joint": groups_report(table, TASKS, "speaker"),
        "age only": groups_report(age, None, "speaker"),
        "group_check": group_check(table["group"], "speaker"),
        "age group_check": group_check(age["group"], "speaker"),
    }


PINNED = {(0, 300): "77dd2f0a41c733d4", (1, 60): "e3a8e7edb3415c90", (2, 1000): "1cf85a4fbbc767b5"}


@pytest.mark.parametrize("seed, n_speakers", PINNED)
def test_report_of_a_random_table_is_pinned(seed: int, n_speakers: int) -> None:
    assert fingerprint(report(split_table(seed, n_speakers))) == PINNED[seed, n_speakers]


def test_report_of_thin_and_empty_parts_is_pinned() -> None:
    """Every file its own group, a class absent from a split, an empty split."""
    table = pd.DataFrame({"split": ["train"] * 5 + ["val"] * 2, "group": list("abcdefg"),
                          "label_name": ["x", "y", "x", "y", "z", "x", "x"]})
    summary = {"per_class": per_class(table, "label_name"), "groups": groups_report(table, None, "patient"),
               "sizes": {s: group_sizes(table.loc[table["split"] == s, "group"], "patient") for s in SPLITS},
               "check": group_check(table["group"], "patient")}
    assert fingerprint(summary) == "fc0ad55b875ac630"
