"""Read a Common Voice folder (official release or the Kaggle copy) into one table of clips.

Official release: `validated.tsv` and/or `train.tsv dev.tsv test.tsv`, clips in `clips/`.
Kaggle copy: `cv-valid-{train,dev,test}.csv` with a `filename` column relative to the root (the
clips sit in `cv-valid-train/cv-valid-train/...` in the download, hence the second lookup).

Tables are read with the csv module: the official TSVs unquoted (sentences hold stray quotes
that would swallow rows otherwise), the Kaggle CSVs quoted; a BOM and CRLF endings are accepted.
Rows left out are counted by reason in `table.attrs["report"]`, never dropped silently:
  - a row with more fields than the header (a tab inside a field would shift every column after it);
  - a row with a blank clip path;
  - a clip listed twice: within one file the first row wins; across split files the held-out one
    wins (test over dev over train), so evaluation sets stay as published and no clip is both
    trained on and tested on.
A clip path that is absolute or whose `..` parts leave the data root (clips/ for the official
TSVs, whose paths are relative to it; the table's folder for Kaggle) is an error
(`voxray.data.paths.inside`: a symlink placed inside the root, clips/ on another disk, is followed).
Clips listed but absent are kept here; the cache step counts them as skipped.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from operator import itemgetter
from pathlib import Path

import numpy as np
import pandas as pd

from voxray.data.paths import inside
from voxray.errors import UserError

OFFICIAL_SPLITS = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
KAGGLE_SPLITS = {"train": "cv-valid-train.csv", "dev": "cv-valid-dev.csv", "test": "cv-valid-test.csv"}
SPLIT_NAMES = {"train": "train", "dev": "val", "test": "test"}  # Common Voice says dev, Lightning val
COLUMNS = ["path", "client_id", "age", "gender", "split"]
_KEEP_FIRST = {"test": 0, "val": 1, "train": 2, "": 3}  # which listing of a duplicated clip wins
_EXAMPLES = 10
_TOO_MANY_FIELDS = "more fields than the header"
# A listed path that may need normalising or may leave its root: absolute, a "." or ".." part, or
# an empty part. Every other path is joined as it is, which keeps million-row tables fast.
_UNUSUAL_PATH = r"^/|(?:^|/)\.{1,2}(?:/|$)|//|/$"


def read_common_voice(root: str | Path, use_official_splits: bool = True) -> pd.DataFrame:
    """One row per clip: path (absolute), client_id, age, gender (raw labels), split ("" if none).

    `table.attrs["report"]` holds rows_read, rows_left_out ({reason: count}) and
    rows_left_out_examples ("file line N: reason").

    Args:
        root: the folder holding the TSV/CSV files.
        use_official_splits: use train/dev/test files when present (True); False reads
            `validated.tsv` and leaves splitting to `speaker_split`.
    """
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise UserError(f"Common Voice root {root} is not a folder")
    official = {s: root / f for s, f in OFFICIAL_SPLITS.items() if (root / f).exists()}
    kaggle = {s: root / f for s, f in KAGGLE_SPLITS.items() if (root / f).exists()}
    if official and use_official_splits:
        sources = [(_read_official, SPLIT_NAMES[s], f) for s, f in official.items()]
    elif (root / "validated.tsv").exists():
        sources = [(_read_official, "", root / "validated.tsv")]
    elif kaggle:
        sources = [(_read_kaggle, SPLIT_NAMES[s], f) for s, f in kaggle.items()]
    else:
        raise UserError(
            f"no Common Voice table in {root}: expected validated.tsv or train.tsv/dev.tsv/test.tsv "
            f"(official release) or cv-valid-train.csv/cv-valid-dev.csv/cv-valid-test.csv (Kaggle)"
        )
    left_out: list[tuple[str, str]] = []  # (where, reason)
    frames = [read(root, name, left_out).assign(split=split) for read, split, name in sources]
    table = pd.concat(frames, ignore_index=True)
    rows_read = len(table) + len(left_out)
    table = _drop_duplicates(table, left_out)[COLUMNS].reset_index(drop=True)
    if table.empty:
        raise UserError(f"the Common Voice tables in {root} have no usable rows")
    table.attrs["report"] = {
        "rows_read": rows_read,
        "rows_left_out": dict(Counter(reason for _, reason in left_out)),
        "rows_left_out_examples": [f"{where}: {reason}" for where, reason in left_out[:_EXAMPLES]],
    }
    return table


def _read_official(root: Path, tsv: Path, left_out: list) -> pd.DataFrame:
    df = _read_table(tsv, "path", ["client_id"], left_out, delimiter="\t", quoting=csv.QUOTE_NONE)
    df["path"] = _clip_paths(root / "clips", tsv, df["path"], df["line"])
    return _with_labels(df)


def _read_kaggle(root: Path, csv_file: Path, left_out: list) -> pd.DataFrame:
    df = _read_table(csv_file, "filename", [], left_out, delimiter=",")

    def locate(name: str, direct: str) -> str:
        nested = root / Path(name).parts[0] / name
        return str(nested if not os.path.exists(direct) and nested.exists() else direct)

    direct = _clip_paths(root, csv_file, df["filename"], df["line"])
    df["path"] = [locate(name, path) for name, path in zip(df["filename"], direct)]
    # The Kaggle copy has no speaker ids: each clip is its own group, so splits cannot be
    # checked for speaker overlap; its own train/dev/test files are used instead.
    df["client_id"] = "file:" + df["filename"]
    return _with_labels(df)


def _read_table(
    source: Path, path_column: str, required: Sequence[str], left_out: list, **dialect: object
) -> pd.DataFrame:
    """The columns a reader needs (all text) plus `line` and `file`; bad rows go to `left_out`.

    Only those columns are kept: an English validated.tsv has millions of rows.
    """
    with open(source, encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file, **dialect)
        header = [name.strip() for name in next(reader, [])]
        _require(header, [*required, path_column], source)
        wanted = {*required, path_column, "age", "gender"}
        keep = [i for i, name in enumerate(header) if name in wanted]
        # itemgetter returns a bare value, not a 1-tuple, when it picks one column
        pick = itemgetter(*keep) if len(keep) > 1 else lambda row: (row[keep[0]],)
        width, at = len(header), header.index(path_column)
        rows, lines = [], []
        for row in reader:
            if len(row) == width and row[at].strip():
                rows.append(pick(row))
                lines.append(reader.line_num)
            elif len(row) > width:
                left_out.append((f"{source.name} line {reader.line_num}", _TOO_MANY_FIELDS))
            elif not any(cell.strip() for cell in row):
                continue  # a blank line
            elif len(row) <= at or not row[at].strip():
                left_out.append((f"{source.name} line {reader.line_num}", "no clip path"))
            else:  # trailing fields missing: they are blank
                rows.append(pick(row + [""] * (width - len(row))))
                lines.append(reader.line_num)
    df = pd.DataFrame(rows, columns=[header[i] for i in keep], dtype=str)
    return df.assign(line=lines, file=source.name)


def _clip_paths(base: Path, source: Path, listed: pd.Series, lines: pd.Series) -> list[str]:
    """Absolute clip paths `base/listed`; a path that is absolute or leaves `base` is an error."""
    unusual = listed.str.contains(_UNUSUAL_PATH, regex=True)
    paths = (f"{base}{os.sep}" + listed).tolist()
    for i in unusual.to_numpy().nonzero()[0]:
        path = inside(base, listed.iat[i])
        if path is None:
            raise UserError(
                f"{source}, line {lines.iat[i]}: path {listed.iat[i]!r} leaves the data root "
                f"{base}; list clips by paths relative to it"
            )
        paths[i] = path
    return paths


def _drop_duplicates(table: pd.DataFrame, left_out: list) -> pd.DataFrame:
    """Keep one row per clip path: held-out split first, then the first row of a file."""
    order = table.assign(rank=table["split"].map(_KEEP_FIRST)).sort_values(["rank"], kind="stable")
    repeated = order["path"].duplicated()
    winner = order[~repeated].set_index("path")["file"]
    for row in order[repeated].itertuples():
        kept_in = winner[row.path]
        reason = (f"listed again in {row.file} (first row kept)" if kept_in == row.file
                  else f"also listed in {kept_in} (kept there)")
        left_out.append((f"{row.file} line {row.line}", reason))
    return table.drop(index=order.index[repeated])


def _require(header: Sequence[str], columns: Sequence[str], source: Path) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise UserError(f"{source} lacks columns {missing}; it has {list(header)}")


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
    mapped, label = _map_labels(table[column], label_map, classes)
    keep = mapped.notna()
    out = table[keep].copy()
    out["label_name"] = mapped[keep]
    out["label"] = label[keep.to_numpy()]
    report = {"kept": int(keep.sum()), "excluded": _counts(table.loc[~keep, [column]])}
    return out.reset_index(drop=True), report


def apply_label_maps(
    table: pd.DataFrame, maps: Mapping[str, tuple[Mapping[str, str], Sequence[str]]]
) -> tuple[pd.DataFrame, dict]:
    """Labels of several tasks at once (a joint model): a row is kept when any task's label maps.

    Args:
        table: rows with one raw label column per task (`age`, `gender`).
        maps: task -> (label map, classes), as for `apply_label_map`.

    Returns the kept rows with `label/<task>` (class index, -1 where that label is missing or does
    not map) and `label_name/<task>` ("" there) per task, and `label_name` = the combination of
    the tasks' class names joined by "|" ("?" for a missing one; the class a balanced sampler evens
    speakers within, and the data report's `per_class`) with `label` its index; and a report
    `{"kept": n, "excluded": {"age=blank, gender=other": count, ...}, "labelled": {task: n},
    "missing": {task: {"<raw label or 'blank'>": count}}}` (missing: over the kept rows).
    """
    mapped = {}
    for task, (label_map, classes) in maps.items():
        unknown = sorted(set(label_map.values()) - set(classes))
        if unknown:
            raise ValueError(f"label_map targets {unknown} of {task} are not among classes {list(classes)}")
        mapped[task] = _map_labels(table[task], label_map, classes)
    keep = pd.concat([names.notna() for names, _ in mapped.values()], axis=1).any(axis=1)
    rows = keep.to_numpy()
    out = table[keep].copy()
    report: dict = {"kept": int(keep.sum()), "excluded": _counts(table.loc[~keep, list(maps)], named=True),
                    "labelled": {}, "missing": {}}
    for task, (names, label) in mapped.items():
        names = names[keep]
        out[f"label_name/{task}"] = names.fillna("")
        out[f"label/{task}"] = label[rows]
        report["labelled"][task] = int(names.notna().sum())
        report["missing"][task] = _counts(out.loc[names.isna(), [task]])
    out["label_name"], out["label"] = _joined([label[rows] for _, label in mapped.values()],
                                              [classes for _, classes in maps.values()], out.index)
    return out.reset_index(drop=True), report


def _map_labels(
    raw: pd.Series, label_map: Mapping[str, str], classes: Sequence[str]
) -> tuple[pd.Series, np.ndarray]:
    """The class name (NaN where a raw label does not map) and class index (-1 there) of each row.
    The names are a text column, or an object one when none maps (what a lookup per row infers)."""
    codes, uniques = pd.factorize(raw)  # a few distinct labels: map those, then spread them to the rows
    names = pd.Series(uniques).map(dict(label_map))
    index = names.map({c: i for i, c in enumerate(classes)}).fillna(-1).to_numpy(dtype=np.int64)
    mapped = pd.Series(names.array.take(codes, allow_fill=True), index=raw.index, name=raw.name)
    label = np.where(codes >= 0, index[codes], -1)
    return (mapped if mapped.notna().any() else mapped.astype(object)), label


def _joined(labels: list[np.ndarray], classes: list[Sequence[str]], index: pd.Index) -> tuple[pd.Series, np.ndarray]:
    """Each row's class names joined by "|" ("?" for a missing label, -1), a text column (object
    when there are no rows), and its index among the sorted distinct joins."""
    combination = np.zeros(len(index), dtype=np.int64)
    for label, names in zip(labels, classes):  # number each row's combination, task after task
        combination = combination * (len(names) + 1) + label + 1
    present, row_of = np.unique(combination, return_inverse=True)
    joined = []
    for number in present.tolist():  # a few distinct combinations: spell each out
        parts = []
        for names in reversed(classes):
            number, i = divmod(number, len(names) + 1)
            parts.append(names[i - 1] if i and names[i - 1] != "" else "?")
        joined.append("|".join(reversed(parts)))
    rank, _ = pd.factorize(np.array(joined, dtype=object), sort=True)
    text = pd.array(joined, dtype="str" if len(row_of) else object).take(row_of)
    return pd.Series(text, index=index), rank[row_of]


def _counts(raw: pd.DataFrame, named: bool = False) -> dict:
    """{raw label ("blank" for ""): rows}, or for several columns {"col=label, col=label": rows}
    (`named`), sorted."""
    counts: Counter = Counter()
    for values, n in raw.value_counts(dropna=False, sort=False).items():  # one entry per distinct label(s)
        labels = ["blank" if v == "" else v for v in values]
        counts[", ".join(f"{c}={v}" for c, v in zip(raw.columns, labels)) if named else labels[0]] += int(n)
    return dict(sorted(counts.items()))
