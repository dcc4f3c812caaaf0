"""Patient-disjoint splits for chest X-ray tables, and the leakage checks run before training.

The table is the one `read_xray_dataset` returns (columns path, label, patient_id, split).
"""

import logging

import pandas as pd

from voxray.data.splits import check_group_disjoint, group_split

log = logging.getLogger(__name__)


def patient_split(
    df: pd.DataFrame, val_fraction: float = 0.1, test_fraction: float = 0.0, seed: int = 0
) -> pd.Series:
    """Split rows into train/val/test so each patient lands in one part, stratified by label.

    Args:
        df: table with label and patient_id columns.
        val_fraction: share of rows for validation (default 0.1).
        test_fraction: share of rows for test (default 0.0).
        seed: shuffling seed; the split is deterministic given it.

    Returns:
        Series of "train"/"val"/"test" aligned with `df.index`.
    """
    _require(df, ("label", "patient_id"))
    return group_split(df["label"], df["patient_id"], val_fraction, test_fraction, seed)


def assign_splits(
    df: pd.DataFrame,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    use_official_val: bool = False,
) -> pd.Series:
    """Final splits: keep the layout's official test, fill the rest patient-disjointly.

    Rows with split "test" stay test. Kermany's official val/ holds 16 images, too few to pick
    checkpoints on, so by default it is merged into train and validation is drawn from train
    (`val_fraction` of the official train+val rows). Rows with no split (Radiography, manifests
    without a split column) are drawn into test, val and train by the two fractions. Patients
    that the *official* split puts in two parts stay there: `check_patient_disjoint` reports them.

    Args:
        df: table with label, patient_id and (optional) split columns.
        val_fraction: share of the rows being assigned that go to val (default 0.1).
        test_fraction: share of the rows without an official split that go to test (default 0.0).
        seed: shuffling seed (default 0).
        use_official_val: keep the official val rows as the validation set instead (default False).

    Returns:
        Series of "train"/"val"/"test" aligned with `df.index`.
    """
    _require(df, ("label", "patient_id"))
    official = df["split"] if "split" in df else pd.Series("", index=df.index)
    if use_official_val and not (official == "val").any():
        raise ValueError(
            "use_official_val=True but the data has no official val split; set it to False"
        )
    free = official == ""
    mixed = sorted(set(df["patient_id"][free]) & set(df["patient_id"][~free]))
    if mixed:
        raise ValueError(
            f"{len(mixed)} patient(s) have rows with and without a split (e.g. {mixed[:5]}); "
            "give all rows of a patient a split, or none"
        )
    fixed = (official == "test") | (use_official_val & (official == "val"))
    pool = ~fixed & ~free  # official train, plus official val unless it is used as is
    out = official.where(fixed, "").rename("split")
    if free.any():
        out[free] = patient_split(df[free], val_fraction, test_fraction, seed)
    if pool.any():
        pool_val = 0.0 if use_official_val else val_fraction
        out[pool] = patient_split(df[pool], pool_val, 0.0, seed)
    return out


def check_patient_disjoint(df: pd.DataFrame) -> None:
    """Raise ValueError naming the patients whose images sit in more than one split.

    Args:
        df: table with patient_id and split columns; rows with an empty split are ignored.
    """
    _require(df, ("patient_id", "split"))
    assigned = df[df["split"] != ""]
    check_group_disjoint(assigned["split"], assigned["patient_id"], what="patient")


def find_duplicates(df: pd.DataFrame, digests: pd.Series) -> pd.DataFrame:
    """Groups of images with identical content (equal digests), one row per group.

    Args:
        df: table with path and split columns.
        digests: content hash per row (`pixel_digest` of the decoded image), aligned with `df.index`.

    Returns:
        DataFrame with columns digest, n_images, splits (sorted tuple of the splits involved),
        paths (tuple), cross_split (True when the copies sit in different splits).
    """
    _require(df, ("path", "split"))
    frame = pd.DataFrame({"digest": digests, "path": df["path"], "split": df["split"]})
    frame = frame[frame.duplicated("digest", keep=False)].sort_values(["digest", "path"])
    rows = [
        {
            "digest": digest,
            "n_images": len(group),
            "splits": tuple(sorted(set(group["split"]))),
            "paths": tuple(group["path"]),
        }
        for digest, group in frame.groupby("digest", sort=True)
    ]
    dups = pd.DataFrame(rows, columns=["digest", "n_images", "splits", "paths"])
    dups["cross_split"] = dups["splits"].map(len) > 1
    return dups


def check_leakage(dups: pd.DataFrame, allow: bool = False) -> None:
    """Raise ValueError when identical images sit in different splits, unless allowed.

    Args:
        dups: output of `find_duplicates`.
        allow: log a warning instead of raising (config `data.allow_leakage=true`).
    """
    leaks = dups[dups["cross_split"]]
    if leaks.empty:
        return
    into_test = leaks[leaks["splits"].map(lambda splits: "test" in splits)]
    examples = "; ".join(" = ".join(paths) for paths in leaks["paths"].head(3))
    message = (
        f"{len(leaks)} image(s) have identical copies in different splits ({len(into_test)} "
        f"involve test, the rest train/val): e.g. {examples}. A test or val image the model "
        "trained on inflates the score. Remove the copies, or set data.allow_leakage=true to "
        "train anyway."
    )
    if allow:
        log.warning(message)
        return
    raise ValueError(message)


def _require(df: pd.DataFrame, columns: tuple[str, ...]) -> None:
    """Raise ValueError naming the required columns the table lacks."""
    missing = [column for column in columns if column not in df.columns]
    if missing:
        raise ValueError(f"table lacks columns {missing}; it needs {list(columns)}")
