"""Read a Common Voice folder (official release or the Kaggle copy) into one table of clips.

Official release: `validated.tsv` and/or `train.tsv dev.tsv test.tsv`, clips in `clips/`.
Kaggle copy: `cv-valid-{train,dev,test}.csv` with a `filename` column relative to the root (the
clips sit in `cv-valid-train/cv-valid-train/...` in the download, hence the second lookup).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

OFFICIAL_SPLITS = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
KAGGLE_SPLITS = {"train": "cv-valid-train.csv", "dev": "cv-valid-dev.csv", "test": "cv-valid-test.csv"}
SPLIT_NAMES = {"train": "train", "dev": "val", "test": "test"}  # Common Voice says dev, Lightning val
COLUMNS = ["path", "client_id", "age", "gender", "split"]


def read_common_voice(root: str | Path, use_official_splits: bool = True) -> pd.DataFrame:
    """One row per clip: path (absolute), client_id, age, gender (raw labels), split ("" if none).

    Args:
        root: the folder holding the TSV/CSV files.
        use_official_splits: use train/dev/test files when present (True); False reads
            `validated.tsv` and leaves splitting to `speaker_split`.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"Common Voice root {root} is not a folder")
    official = {s: root / f for s, f in OFFICIAL_SPLITS.items() if (root / f).exists()}
    kaggle = {s: root / f for s, f in KAGGLE_SPLITS.items() if (root / f).exists()}
    if official and use_official_splits:
        frames = [_read_official(f).assign(split=SPLIT_NAMES[s]) for s, f in official.items()]
    elif (root / "validated.tsv").exists():
        frames = [_read_official(root / "validated.tsv").assign(split="")]
    elif kaggle:
        frames = [_read_kaggle(root, f).assign(split=SPLIT_NAMES[s]) for s, f in kaggle.items()]
    else:
        raise ValueError(
            f"no Common Voice table in {root}: expected validated.tsv or train.tsv/dev.tsv/test.tsv "
            f"(official release) or cv-valid-train.csv/cv-valid-dev.csv/cv-valid-test.csv (Kaggle)"
        )
    table = pd.concat(frames, ignore_index=True)[COLUMNS]
    if table.empty:
        raise ValueError(f"the Common Voice tables in {root} have no rows")
    return table


def _read_official(tsv: Path) -> pd.DataFrame:
    # quoting=3 (none): sentences contain stray quotes that would swallow rows otherwise
    df = pd.read_csv(tsv, sep="\t", quoting=3, dtype=str, keep_default_na=False)
    _require(df, ["client_id", "path"], tsv)
    df["path"] = [str(tsv.parent / "clips" / p) for p in df["path"]]
    return _with_labels(df)


def _read_kaggle(root: Path, csv: Path) -> pd.DataFrame:
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    _require(df, ["filename"], csv)

    def locate(name: str) -> str:
        direct = root / name
        nested = root / Path(name).parts[0] / name
        return str(nested if not direct.exists() and nested.exists() else direct)

    df["path"] = [locate(n) for n in df["filename"]]
    # The Kaggle copy has no speaker ids: each clip is its own group, so splits cannot be
    # checked for speaker overlap; its own train/dev/test files are used instead.
    df["client_id"] = "file:" + df["filename"]
    return _with_labels(df)


def _require(df: pd.DataFrame, columns: Sequence[str], source: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{source} lacks columns {missing}; it has {list(df.columns)}")


def _with_labels(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("age", "gender"):
        df[col] = df[col].str.strip().str.lower() if col in df.columns else ""
    return df


def apply_label_map(
    table: pd.DataFrame, column: str, label_map: Mapping[str, str], classes: Sequence[str]
) -> tuple[pd.DataFrame, dict]:
    """Map raw labels of `column` to `classes`; rows that do not map are excluded and counted.

    Returns the kept rows with a `label` (class index) and `label_name` column, and a report
    `{"kept": n, "excluded": {"<raw label or 'blank'>": count, ...}}`.
    """
    unknown = sorted(set(label_map.values()) - set(classes))
    if unknown:
        raise ValueError(f"label_map targets {unknown} are not among classes {list(classes)}")
    mapped = table[column].map(lambda raw: label_map.get(raw))
    keep = mapped.notna()
    excluded = Counter(raw if raw else "blank" for raw in table.loc[~keep, column])
    out = table[keep].copy()
    out["label_name"] = mapped[keep]
    out["label"] = out["label_name"].map({c: i for i, c in enumerate(classes)}).astype(int)
    report = {"kept": int(keep.sum()), "excluded": dict(sorted(excluded.items()))}
    return out.reset_index(drop=True), report
