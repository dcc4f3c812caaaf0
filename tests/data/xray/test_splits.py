"""Patient-disjoint X-ray splits, the official-split rules, and duplicate leakage checks."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from voxray.data.xray.images import load_xray, pixel_digest
from voxray.data.xray.splits import (
    assign_splits,
    check_leakage,
    check_patient_disjoint,
    find_duplicates,
    patient_split,
)


def _table(n_patients: int = 120, split: str = "", seed: int = 0) -> pd.DataFrame:
    """1-3 images per patient, about 27% normal."""
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(n_patients):
        label = "normal" if rng.random() < 0.27 else "pneumonia"
        for k in range(rng.integers(1, 4)):
            rows.append((f"/x/p{patient}_{k}.jpeg", label, f"p{patient}", split, "test"))
    return pd.DataFrame(rows, columns=["path", "label", "patient_id", "split", "source"])


def _parts_per_patient(df: pd.DataFrame, splits: pd.Series) -> pd.Series:
    return splits.groupby(df["patient_id"]).nunique()


def test_patient_split_is_disjoint_stratified_and_deterministic() -> None:
    df = _table()
    splits = patient_split(df, val_fraction=0.2, test_fraction=0.15, seed=3)

    assert splits.index.equals(df.index)
    assert _parts_per_patient(df, splits).max() == 1
    shares = splits.value_counts(normalize=True)
    assert abs(shares["val"] - 0.2) < 0.05 and abs(shares["test"] - 0.15) < 0.05
    for label in ("normal", "pneumonia"):  # each part keeps roughly the class balance
        in_label = splits[df["label"] == label].value_counts(normalize=True)
        assert abs(in_label["val"] - 0.2) < 0.08
    assert splits.equals(patient_split(df, 0.2, 0.15, seed=3))
    assert not splits.equals(patient_split(df, 0.2, 0.15, seed=4))


def test_patient_split_rejects_bad_fractions() -> None:
    with pytest.raises(ValueError, match="fractions"):
        patient_split(_table(10), val_fraction=0.6, test_fraction=0.5)


def test_assign_splits_kermany_keeps_test_and_merges_official_val() -> None:
    df = _table(200, split="train")
    df.loc[df["patient_id"].isin([f"p{i}" for i in range(30)]), "split"] = "test"
    df.loc[df["patient_id"].isin(["p30", "p31"]), "split"] = "val"

    splits = assign_splits(df, val_fraction=0.1, seed=0)

    assert splits[df["split"] == "test"].eq("test").all()
    assert not splits[df["split"] != "test"].eq("test").any()
    pool = df["split"] != "test"
    assert abs(splits[pool].eq("val").mean() - 0.1) < 0.04  # drawn from official train+val
    assert _parts_per_patient(df, splits).max() == 1


def test_assign_splits_can_keep_the_official_val() -> None:
    df = _table(50, split="train")
    df.loc[df["patient_id"] == "p0", "split"] = "val"
    df.loc[df["patient_id"] == "p1", "split"] = "test"

    splits = assign_splits(df, use_official_val=True)

    assert splits.equals(df["split"].rename("split"))
    with pytest.raises(ValueError, match="no official val"):
        assign_splits(_table(20, split="train"), use_official_val=True)


def test_assign_splits_without_official_split_draws_test_too() -> None:
    df = _table(150)  # e.g. the Radiography database: no split at all
    splits = assign_splits(df, val_fraction=0.1, test_fraction=0.2, seed=1)
    assert set(splits) == {"train", "val", "test"}
    assert abs(splits.eq("test").mean() - 0.2) < 0.05
    assert _parts_per_patient(df, splits).max() == 1


def test_assign_splits_refuses_a_patient_half_assigned() -> None:
    df = _table(10, split="train")
    several = df["patient_id"].value_counts().index[0]  # a patient with more than one image
    df.loc[df.index[df["patient_id"] == several][0], "split"] = ""
    with pytest.raises(ValueError, match="with and without a split"):
        assign_splits(df)


def test_check_patient_disjoint_names_the_leaking_patient() -> None:
    df = _table(20, split="train")
    check_patient_disjoint(df)
    leaky = pd.concat([df, df[df["patient_id"] == "p7"].assign(split="test")], ignore_index=True)
    with pytest.raises(ValueError, match="p7"):
        check_patient_disjoint(leaky)


def test_duplicate_copied_from_train_into_test_is_found_and_blocks(tmp_path: Path) -> None:
    rows = []
    for i, split in enumerate(["train", "train", "val", "test"]):
        path = tmp_path / split / f"img{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(path)
        rows.append((str(path), split))
    leaked = tmp_path / "test" / "copy_of_img0.png"
    shutil.copy(rows[0][0], leaked)
    rows.append((str(leaked), "test"))
    same_split = tmp_path / "train" / "again_img1.png"
    shutil.copy(rows[1][0], same_split)
    rows.append((str(same_split), "train"))
    df = pd.DataFrame(rows, columns=["path", "split"])

    dups = find_duplicates(df, df["path"].map(lambda p: pixel_digest(load_xray(p, 32))))

    assert len(dups) == 2
    cross = dups[dups["cross_split"]].iloc[0]
    assert cross["splits"] == ("test", "train") and cross["n_images"] == 2
    assert set(cross["paths"]) == {rows[0][0], str(leaked)}
    with pytest.raises(ValueError, match=r"involve test.*data\.allow_leakage=true"):
        check_leakage(dups)
    check_leakage(dups, allow=True)
    check_leakage(dups[~dups["cross_split"]])  # a copy within one split is no leak


def test_no_duplicates_gives_an_empty_table() -> None:
    df = pd.DataFrame({"path": ["a", "b"], "split": ["train", "test"]})
    dups = find_duplicates(df, pd.Series(["1", "2"]))
    assert dups.empty and "cross_split" in dups
    check_leakage(dups)
