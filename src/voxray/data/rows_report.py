"""What data_report.json says about a split table: rows per class, rows per speaker or patient, and
whether the group-disjointness check could show anything."""

from __future__ import annotations

import numpy as np
import pandas as pd

from voxray.data.splits import SPLITS


def per_class(table: pd.DataFrame, column: str) -> dict:
    """{split: {class name: rows}} of a table with a split column and a class-name `column`."""
    by_split = table.groupby(["split", column]).size().unstack(fill_value=0)
    return {s: by_split.loc[s].to_dict() if s in by_split.index else {} for s in SPLITS}


def group_sizes(groups: pd.Series, name: str) -> dict:
    """Rows per group in one split: how many groups, min / median / max rows, and the share of the
    rows held by the top 1% of groups (ceil, so at least one group)."""
    sizes = groups.value_counts().to_numpy()  # largest first
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
    if groups.duplicated().any():
        return f"meaningful: {groups.nunique()} {name}s, {(groups.value_counts() > 1).sum()} with several files"
    return (
        f"vacuous: every file is its own {name} group (as when the data has no {name} ids: the Kaggle "
        f"Common Voice copy, COVID-19 Radiography), so one {name}'s files can sit in train and test "
        f"unnoticed; test metrics may be optimistic"
    )
