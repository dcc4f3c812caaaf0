"""Read the chest X-ray folder layouts people download into one table.

Layouts (auto-detected at the given folder or up to two levels below it):
  kermany      root/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg (Kaggle "chest_xray")
  radiography  root/{COVID,Normal,Lung_Opacity,Viral Pneumonia}/[images/]*.png (COVID-19
               Radiography Database; masks/ and .xlsx sheets beside them are ignored)
  manifest     root/manifest.csv, or a .csv path: path,label[,patient_id][,split]
DICOM (.dcm) files are accepted wherever a JPEG or PNG is. Files that are not used are counted by
reason in the report, never dropped silently.

A manifest lists paths relative to its own folder, the data root; a path that is absolute or
whose `..` parts lead out of the root is refused (`voxray.data.paths.inside`).
"""

import csv
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from voxray.data.paths import inside
from voxray.data.splits import SPLITS
from voxray.data.xray.patients import kermany_patient_id, patient_id_fallbacks

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png", ".tif", ".tiff", ".bmp", ".dcm", ".dicom"})
COLUMNS = ["path", "label", "patient_id", "split", "source"]
XRAY_TASK_CLASSES: dict[str, tuple[str, ...]] = {
    "binary": ("normal", "pneumonia"),
    "subtype": ("normal", "bacterial", "viral"),
    "radiography": ("covid", "lung_opacity", "normal", "viral_pneumonia"),
}
LAYOUT_TASKS = {
    "kermany": ("binary", "subtype"),
    "radiography": ("binary", "radiography"),
    "manifest": tuple(XRAY_TASK_CLASSES),
}
# Binary task: every finer label folds to normal or pneumonia. Radiography's Lung_Opacity is
# "non-COVID lung infection" (from the RSNA pneumonia challenge), i.e. pneumonic opacity, so it
# counts as pneumonia; COVID and Viral Pneumonia are pneumonias by definition.
BINARY_LABEL = {
    "normal": "normal",
    "pneumonia": "pneumonia",
    "bacterial": "pneumonia",
    "viral": "pneumonia",
    "covid": "pneumonia",
    "lung_opacity": "pneumonia",
    "viral_pneumonia": "pneumonia",
}
# Kermany-style spellings a manifest may use for the subtype labels.
_LABEL_ALIASES = {"bacteria": "bacterial", "virus": "viral"}
_RADIOGRAPHY_FOLDERS = frozenset(XRAY_TASK_CLASSES["radiography"])


def read_xray_dataset(root: str | Path, task: str = "binary") -> tuple[pd.DataFrame, dict]:
    """Read a chest X-ray dataset folder (or manifest CSV) into one table.

    Args:
        root: dataset folder (layout auto-detected, also one or two levels up) or a .csv manifest.
        task: "binary" (normal/pneumonia, default), "subtype" (normal/bacterial/viral, Kermany
            and manifest) or "radiography" (the four COVID-19 Radiography classes).

    Returns:
        (table, report): table columns path (absolute), label (a name in XRAY_TASK_CLASSES[task]),
        patient_id, split ("train"/"val"/"test", "" where the layout has none), source (layout);
        report holds layout, root, n_images, ignored (count by reason) and ignored_files; for
        Kermany also patient_id_fallbacks (files whose name has no patient-id pattern, each its
        own patient) and patient_id_fallback_examples.
    """
    if task not in XRAY_TASK_CLASSES:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(XRAY_TASK_CLASSES)}")
    layout, base = detect_layout(Path(os.path.abspath(root)))
    if task not in LAYOUT_TASKS[layout]:
        raise ValueError(
            f"task {task!r} is not available for the {layout} layout at {base}; "
            f"it supports {list(LAYOUT_TASKS[layout])}"
        )
    ignored: list[tuple[Path, str]] = []
    readers = {"kermany": _read_kermany, "radiography": _read_radiography}
    rows = readers.get(layout, _read_manifest)(base, task, ignored)
    if not rows:
        raise ValueError(f"no usable images in the {layout} layout at {base} ({_count(ignored)})")
    table = pd.DataFrame(rows, columns=COLUMNS).sort_values("path", ignore_index=True)
    report = {
        "layout": layout,
        "root": str(base),
        "n_images": len(table),
        "ignored": _count(ignored),
        "ignored_files": [str(path) for path, _ in ignored],
    }
    if layout == "kermany":
        report.update(patient_id_fallbacks(table, base))
    return table, report


def detect_layout(root: Path) -> tuple[str, Path]:
    """Find the one layout at `root` or the shallowest folder below it (two levels at most)."""
    if root.is_file() and root.suffix.lower() == ".csv":
        return "manifest", root
    if not root.is_dir():
        raise FileNotFoundError(f"no dataset folder or .csv manifest at {root}")
    if (root / "manifest.csv").is_file():
        return "manifest", root / "manifest.csv"
    level = [root]
    for _ in range(3):
        found = [(layout, folder) for folder in level if (layout := _layout_of(folder))]
        if len(found) > 1:
            raise ValueError(f"several X-ray datasets under {root}: {found}; pass one of them")
        if found:
            return found[0]
        level = [child for folder in level for child in _subdirs(folder)]
    raise ValueError(
        f"no chest X-ray layout found in {root}; expected one of: Kermany "
        "{train,val,test}/{NORMAL,PNEUMONIA}/ folders, COVID-19 Radiography class folders "
        "(COVID, Normal, Lung_Opacity, Viral Pneumonia), or a manifest.csv with path,label columns"
    )


def _layout_of(folder: Path) -> str | None:
    """Name of the layout rooted exactly at `folder`, or None."""
    children = {_norm(child.name): child for child in _subdirs(folder)}
    split_dirs = [children[split] for split in SPLITS if split in children]
    if any({"normal", "pneumonia"} & {_norm(c.name) for c in _subdirs(d)} for d in split_dirs):
        return "kermany"
    if len(_RADIOGRAPHY_FOLDERS & children.keys()) >= 2:
        return "radiography"
    return None


def _read_kermany(base: Path, task: str, ignored: list) -> list[tuple]:
    """Rows of a Kermany tree: split/CLASS/file, subtype and patient id from the file name."""
    rows = []
    for path, parts in _candidate_files(base, ignored):
        if len(parts) != 3 or parts[0] not in SPLITS or parts[1] not in ("normal", "pneumonia"):
            ignored.append((path, "outside the split/class folders"))
            continue
        label = parts[1]
        if task == "subtype" and label == "pneumonia":
            lowered = path.name.lower()
            label = "bacterial" if "bacteria" in lowered else "viral" if "virus" in lowered else ""
            if not label:
                ignored.append((path, "pneumonia subtype not in file name"))
                continue
        patient = kermany_patient_id(path.name)
        # Kermany numbers patients afresh in its test folder (train has person1_bacteria_1,
        # test person1_virus_6; both hold IM-0001), so test ids get a prefix; val/ was carved
        # out of train and shares its numbering.
        patient = f"test/{patient}" if parts[0] == "test" else patient
        rows.append((str(path), label, patient, parts[0], "kermany"))
    return rows


def _read_radiography(base: Path, task: str, ignored: list) -> list[tuple]:
    """Rows of a COVID-19 Radiography tree: CLASS/[images/]file; no patient ids, no split."""
    rows = []
    for path, parts in _candidate_files(base, ignored):
        placed = len(parts) == 2 or (len(parts) == 3 and parts[1] == "images")
        if not placed or parts[0] not in _RADIOGRAPHY_FOLDERS:
            ignored.append((path, "outside the class folders"))
            continue
        label = BINARY_LABEL[parts[0]] if task == "binary" else parts[0]
        # The database publishes no patient ids, so each image is its own group: a patient with
        # several films can straddle splits, a limit of the data that no reader can fix.
        rows.append((str(path), label, path.stem, "", "radiography"))
    return rows


def _read_manifest(csv_path: Path, task: str, ignored: list) -> list[tuple]:
    """Rows of a manifest CSV; paths are relative to the CSV's folder and must stay inside it.

    Unknown labels, files listed twice (the first row wins) and files not found are counted in
    `ignored`; a path leaving the folder, an unknown split or a malformed row is an error.
    """
    root = csv_path.parent
    allowed = _allowed_labels(task)
    rows, seen = [], set()
    for line, record in _manifest_records(csv_path):
        where = f"{csv_path}, line {line}"
        resolved = inside(root, record["path"].strip())
        if resolved is None:
            raise ValueError(
                f"{where}: path {record['path'].strip()!r} leaves the data root {root}; "
                "list images by paths relative to the manifest's folder"
            )
        path = Path(resolved)
        split = _norm(record.get("split", ""))
        if split not in ("", *SPLITS):
            raise ValueError(
                f"{where}: split {record['split']!r} is not one of {list(SPLITS)} or empty"
            )
        raw_label = record["label"].strip()
        label = _LABEL_ALIASES.get(_norm(raw_label), _norm(raw_label))
        if path in seen:
            ignored.append((path, "listed again (first row kept)"))
            continue
        seen.add(path)
        if label not in allowed:
            ignored.append((path, f"unknown label {raw_label!r}" if raw_label else "blank label"))
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            ignored.append((path, "not an image"))
        elif not path.is_file():
            ignored.append((path, "listed but not found"))
        else:
            patient = record.get("patient_id", "").strip() or path.stem
            label = BINARY_LABEL[label] if task == "binary" else label
            rows.append((str(path), label, patient, split, "manifest"))
    return rows


def _manifest_records(csv_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row as {column: text}) of a UTF-8 CSV; header names are stripped and lowered.

    Read with the csv module so a row with extra fields is caught on any line (pandas silently
    turns an extra field on the first row into an index). A BOM and CRLF endings are accepted.
    """
    with open(csv_path, encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file)
        try:
            header = [name.strip().lower() for name in next(reader, [])]
            missing = sorted({"path", "label"} - set(header))
            if missing:
                raise ValueError(
                    f"{csv_path}: missing columns {missing}; it has {header}; "
                    "need path,label[,patient_id][,split]"
                )
            for row in reader:
                if len(row) > len(header):
                    raise ValueError(
                        f"{csv_path}, line {reader.line_num}: {len(row)} fields but the header has "
                        f"{len(header)}; quote fields that contain commas"
                    )
                if any(cell.strip() for cell in row):
                    yield reader.line_num, dict(zip(header, row + [""] * (len(header) - len(row))))
        except UnicodeDecodeError as error:
            message = f"{csv_path} is not UTF-8 text ({error.reason}); save it as UTF-8 CSV"
            raise ValueError(message) from None
        except csv.Error as error:
            message = f"{csv_path}, line {reader.line_num}: not readable as CSV ({error})"
            raise ValueError(message) from None


def _candidate_files(base: Path, ignored: list) -> list[tuple[Path, tuple[str, ...]]]:
    """Image files under `base` with their normalised relative parts; others go to `ignored`."""
    found = []
    for folder, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(folder) / name
            parts = tuple(_norm(part) for part in path.relative_to(base).parts)
            if name.startswith(".") or "__macosx" in parts:
                ignored.append((path, "system file"))
            elif path.suffix.lower() not in IMAGE_SUFFIXES:
                ignored.append((path, "not an image"))
            elif "masks" in parts[:-1]:
                ignored.append((path, "segmentation mask"))
            else:
                found.append((path, parts[:-1] + (name,)))
    return found


def _allowed_labels(task: str) -> set[str]:
    """Manifest labels accepted for a task: its classes, plus finer labels binary folds."""
    return set(BINARY_LABEL) if task == "binary" else set(XRAY_TASK_CLASSES[task])


def _subdirs(folder: Path) -> list[Path]:
    """Visible sub-folders, sorted; macOS resource forks and hidden folders are skipped."""
    return sorted(
        child for child in folder.iterdir()
        if child.is_dir() and not child.name.startswith(".") and child.name != "__MACOSX"
    )


def _norm(name: str) -> str:
    """Case- and separator-insensitive key: 'Viral Pneumonia' -> 'viral_pneumonia'."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _count(ignored: list[tuple[Path, str]]) -> dict[str, int]:
    """Count ignored files by reason."""
    return dict(Counter(reason for _, reason in ignored))
