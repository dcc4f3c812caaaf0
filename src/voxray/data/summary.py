"""What data_report.json says about a split table: rows and speakers (patients) per class, with a
warning when an evaluation class has few, rows per speaker or patient, and whether the
group-disjointness check could show anything."""

from __future__ import annotations

import numpy as np
import pandas as pd

from voxray.data.splits import SPLITS

# Fewer speakers / patients than this in a class of an evaluation split: one of them moves the
# class's recall, and the speaker-level scores that pick checkpoints, by a fifth or more.
MIN_GROUPS = 5


def per_class(table: pd.DataFrame, column: str) -> dict:
    """{split: {class name: rows}} of a table with a split column and a class-name `column`."""
    by_split = table.groupby(["split", column]).size().unstack(fill_value=0)
    return {s: by_split.loc[s].to_dict() if s in by_split.index else {} for s in SPLITS}


def groups_per_class(table: pd.DataFrame, column: str) -> dict:
    """{split: {class name: distinct groups (speakers / patients)}} of a table with split, group and
    a class-name `column`; a class absent from a split counts 0 there."""
    by_split = table.groupby(["split", column])["group"].nunique().unstack(fill_value=0)
    by_split = by_split.reindex(columns=sorted(table[column].unique()), fill_value=0)
    return {s: by_split.loc[s].astype(int).to_dict() if s in by_split.index else dict.fromkeys(by_split.columns, 0)
            for s in SPLITS}


def few_groups(counts: dict, name: str, minimum: int = MIN_GROUPS) -> str | None:
    """A warning naming the validation and test classes with fewer than `minimum` groups, from
    {split: {class: groups}} (`groups_per_class`); None when there are none. A split without rows
    (no test part) is not a class with too few."""
    thin = [f"{split} {c}: {n}" for split in ("val", "test") if any(counts.get(split, {}).values())
            for c, n in counts[split].items() if n < minimum]
    if not thin:
        return None
    return (f"fewer than {minimum} {name}s in a class of the validation or test split ({', '.join(thin)}): "
            f"one {name} moves that class's recall by 1/n, and with it the scores that pick the checkpoint; "
            f"raise data.val_fraction / data.test_fraction (splits voxray draws) or add {name}s")


def groups_report(table: pd.DataFrame, tasks: list[str] | None, name: str) -> dict:
    """data_report.json's `<name>s_per_class` {split: {class: groups}} (a joint model's classes as
    `<task>/<class>`, over the rows carrying that task's label), and `few_<name>s`, the warning of
    `few_groups`, when an evaluation class has too few."""
    if not tasks:
        counts = groups_per_class(table, "label_name")
    else:
        by_task = {t: groups_per_class(table.loc[table[f"label/{t}"] >= 0, ["split", "group", f"label_name/{t}"]],
                                       f"label_name/{t}") for t in tasks}
        counts = {s: {f"{t}/{c}": n for t in tasks for c, n in by_task[t][s].items()} for s in SPLITS}
    warning = few_groups(counts, name)
    return {f"{name}s_per_class": counts, **({f"few_{name}s": warning} if warning else {})}


def group_sizes(groups: pd.Series, name: str) -> dict:
    """Rows per group in one split: how many groups, min / median / max rows, and the share of the
    rows held by the top 1% of groups (ceil, so at least one group)."""
    sizes = groups.value_counts().to_numpy()  # largest first
    sizes = sizes[sizes > 0]  # a categorical column counts its absent groups too
    if len(sizes) == 0:
        return {f"{name}s": 0, "min": None, "median": None, "max": None, "top_1pct_share": None,
                f"top_1pct_{name}s": 0}
    top = int(np.ceil(0.01 * len(sizes)))
    return {
        f"{name}s": len(sizes),
        "min": int(sizes.min()),
        "median": float(np.median(sizes)),
        "max": int(sizes.max()),
        "top_1pct_share": round(float(sizes[:top].sum() / sizes.sum()), 4),
        f"top_1pct_{name}s": top,
    }


def group_check(groups: pd.Series, name: str) -> str:
    """What the {name}-disjointness check of this table can show: "vacuous: ..." when every file is
    its own group (no speaker / patient ids in the data), so no split could ever fail it."""
    counts = groups.value_counts(dropna=False)  # one pass; a missing id counts as a file, not a group
    counts = counts[counts > 0]  # a categorical column counts its absent groups too
    if (counts > 1).any():
        named = counts[counts.index.notna()]
        return f"meaningful: {len(named)} {name}s, {(named > 1).sum()} with several files"
    return (
        f"vacuous: every file is its own {name} group (as when the data has no {name} ids: the Kaggle "
        f"Common Voice copy, COVID-19 Radiography), so one {name}'s files can sit in train and test "
        f"unnoticed; test metrics may be optimistic"
    )


def split_report(table: pd.DataFrame, tasks: list[str] | None, name: str) -> dict:
    """The data report's entries on the split rows: rows and groups per split, per class (and per
    task of a joint model, over the rows that carry its label), group sizes, too few groups."""
    report = {
        "rows": {s: int((table["split"] == s).sum()) for s in SPLITS},
        f"{name}s": {s: int(table.loc[table["split"] == s, "group"].nunique()) for s in SPLITS},
        "per_class": per_class(table, "label_name"),
        f"rows_per_{name}": {s: group_sizes(table.loc[table["split"] == s, "group"], name) for s in SPLITS},
    }
    if tasks:  # "per_class" holds the combinations
        report["per_class_of_task"] = {
            t: per_class(table.loc[table[f"label/{t}"] >= 0, ["split", f"label_name/{t}"]], f"label_name/{t}")
            for t in tasks
        }
    report.update(groups_report(table, tasks, name))
    return report
