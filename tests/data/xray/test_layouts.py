"""Reading the Kermany, COVID-19 Radiography and manifest layouts into one table."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers.dicom import write_dicom
from voxray.data.xray.layouts import XRAY_TASK_CLASSES, read_xray_dataset
from voxray.data.xray.patients import kermany_patient_id
from voxray.data.xray.splits import check_patient_disjoint


def _image(path: Path, suffix_format: str = "JPEG") -> Path:
    """Write a tiny grayscale image (or a minimal DICOM for .dcm)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(len(str(path))).integers(0, 255, (12, 10), dtype=np.uint8)
    if path.suffix == ".dcm":
        write_dicom(path, pixels.astype(np.uint16) * 16)
    else:
        Image.fromarray(pixels).save(path, format=suffix_format)
    return path


def test_kermany_nested_copy_labels_ids_splits_and_ignored_counts(tmp_path: Path) -> None:
    base = tmp_path / "download" / "chest_xray"  # the Kaggle zip nests the dataset one level
    files = {
        "train/NORMAL/IM-0115-0001.jpeg": ("normal", "IM-0115", "train"),
        "train/NORMAL/NORMAL2-IM-0123-0001.jpeg": ("normal", "IM-0123", "train"),
        "train/PNEUMONIA/person1234_bacteria_5678.jpeg": ("pneumonia", "person1234", "train"),
        "train/PNEUMONIA/person1_virus_6.dcm": ("pneumonia", "person1", "train"),
        "val/NORMAL/NORMAL2-IM-1427-0001.jpeg": ("normal", "IM-1427", "val"),
        "val/PNEUMONIA/person63_bacteria_306.jpeg": ("pneumonia", "person63", "val"),
        # Kermany restarts its numbering in test/: person1 there is another child.
        "test/PNEUMONIA/person1_virus_9.jpeg": ("pneumonia", "test/person1", "test"),
        "test/NORMAL/IM-0001-0001.jpeg": ("normal", "test/IM-0001", "test"),
    }
    for name in files:
        _image(base / name)
    (base / "train" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (base / "train" / "NORMAL" / "labels.csv").write_text("a,b\n")
    _image(base / "train" / "stray.jpeg")  # an image outside the class folders

    table, report = read_xray_dataset(tmp_path / "download")

    assert list(table.columns) == ["path", "label", "patient_id", "split", "source"]
    got = {
        Path(row.path).relative_to(base).as_posix(): (row.label, row.patient_id, row.split)
        for row in table.itertuples()
    }
    assert got == files
    assert all(Path(p).is_absolute() for p in table["path"])
    assert set(table["source"]) == {"kermany"}
    assert report["layout"] == "kermany" and report["n_images"] == len(files)
    assert report["ignored"] == {
        "system file": 1,
        "not an image": 1,
        "outside the split/class folders": 1,
    }
    assert len(report["ignored_files"]) == 3
    check_patient_disjoint(table)


def test_kermany_subtype_from_file_names(tmp_path: Path) -> None:
    for name in ("person1_bacteria_1.jpeg", "person2_virus_2.jpeg", "person3_unknown_3.jpeg"):
        _image(tmp_path / "train" / "PNEUMONIA" / name)
    _image(tmp_path / "test" / "NORMAL" / "IM-0001-0001.jpeg")

    table, report = read_xray_dataset(tmp_path, task="subtype")

    assert sorted(table["label"]) == ["bacterial", "normal", "viral"]
    assert report["ignored"] == {"pneumonia subtype not in file name": 1}


def _radiography_tree(root: Path) -> None:
    for folder in ("COVID", "Normal", "Lung_Opacity", "Viral Pneumonia"):
        _image(root / folder / "images" / f"{folder}-1.png", "PNG")
        _image(root / folder / "masks" / f"{folder}-1.png", "PNG")
        (root / f"{folder}.metadata.xlsx").write_bytes(b"PK\3\4 not really a sheet")
    _image(root / "COVID" / "COVID-2.png", "PNG")  # older release: images directly in the class
    _image(root / "Normal" / "images" / "Normal-2.dcm")
    (root / "README.md.txt").write_text("COVID-19 Radiography Database")


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("binary", {"COVID-1": "pneumonia", "COVID-2": "pneumonia", "Lung_Opacity-1": "pneumonia",
                    "Normal-1": "normal", "Normal-2": "normal", "Viral Pneumonia-1": "pneumonia"}),
        ("radiography", {"COVID-1": "covid", "COVID-2": "covid", "Lung_Opacity-1": "lung_opacity",
                         "Normal-1": "normal", "Normal-2": "normal",
                         "Viral Pneumonia-1": "viral_pneumonia"}),
    ],
)
def test_radiography_layout(tmp_path: Path, task: str, expected: dict[str, str]) -> None:
    _radiography_tree(tmp_path / "COVID-19_Radiography_Dataset")

    table, report = read_xray_dataset(tmp_path, task=task)

    assert dict(zip(table["patient_id"], table["label"])) == expected  # no ids: stem per image
    assert set(table["split"]) == {""} and set(table["source"]) == {"radiography"}
    assert set(table["label"]) <= set(XRAY_TASK_CLASSES[task])
    assert report["ignored"] == {"segmentation mask": 4, "not an image": 5}


@pytest.mark.parametrize(
    ("layout", "task"), [("kermany", "radiography"), ("radiography", "subtype")]
)
def test_task_the_layout_cannot_serve_is_refused(tmp_path: Path, layout: str, task: str) -> None:
    if layout == "kermany":
        _image(tmp_path / "train" / "NORMAL" / "IM-0001-0001.jpeg")
    else:
        _radiography_tree(tmp_path)
    with pytest.raises(ValueError, match="supports"):
        read_xray_dataset(tmp_path, task=task)


def test_manifest_relative_paths_labels_and_defaults(tmp_path: Path) -> None:
    _image(tmp_path / "img" / "a.jpeg")
    _image(tmp_path / "img" / "b.png", "PNG")
    _image(tmp_path / "img" / "c.dcm")
    (tmp_path / "img" / "notes.txt").write_text("not an image")
    (tmp_path / "manifest.csv").write_text(
        "path,label,patient_id,split\n"
        "img/a.jpeg,NORMAL,p1,train\n"
        "img/b.png,bacteria,,test\n"
        "img/c.dcm,Viral,p3,\n"
        "img/notes.txt,normal,p4,train\n"
    )

    binary, report = read_xray_dataset(tmp_path)
    subtype, _ = read_xray_dataset(tmp_path / "manifest.csv", task="subtype")

    assert list(binary["label"]) == ["normal", "pneumonia", "pneumonia"]
    assert list(subtype["label"]) == ["normal", "bacterial", "viral"]
    assert list(binary["patient_id"]) == ["p1", "b", "p3"]  # missing id -> file stem
    assert list(binary["split"]) == ["train", "test", ""]
    assert binary["path"][0] == str(tmp_path / "img" / "a.jpeg")
    assert report["layout"] == "manifest" and report["ignored"] == {"not an image": 1}


def test_manifest_missing_column_names_it_and_the_columns_present(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text("file,diagnosis\nmissing.jpeg,normal\n")
    message = r"missing columns \['label', 'path'\]; it has \['file', 'diagnosis'\]"
    with pytest.raises(ValueError, match=message):
        read_xray_dataset(tmp_path)


def test_empty_or_unknown_folder_and_unknown_task(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected one of"):
        read_xray_dataset(tmp_path)
    _image(tmp_path / "some" / "pictures" / "x.jpeg")
    with pytest.raises(ValueError, match="expected one of"):
        read_xray_dataset(tmp_path)
    with pytest.raises(ValueError, match="binary"):
        read_xray_dataset(tmp_path, task="multiclass")


def test_layout_with_only_non_images_reports_them(tmp_path: Path) -> None:
    (tmp_path / "train" / "NORMAL").mkdir(parents=True)
    (tmp_path / "train" / "NORMAL" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(ValueError, match="no usable images.*system file"):
        read_xray_dataset(tmp_path)


@pytest.mark.parametrize(
    ("name", "patient"),
    [
        ("person1234_bacteria_5678.jpeg", "person1234"),
        ("person1_virus_6.jpeg", "person1"),
        ("NORMAL2-IM-0123-0001.jpeg", "IM-0123"),
        ("IM-0115-0001.jpeg", "IM-0115"),
        ("train/NORMAL/IM-0115-0002.dcm", "IM-0115"),
        ("IM-0011-0001-0002.jpeg", "IM-0011"),  # second view of a film
        ("NORMAL2-IM-1345-0001-0002.jpeg", "IM-1345"),
        ("person1234_bacteria_5678_2.jpeg", "person1234"),
        ("PERSON12_Virus_3.PNG", "person12"),  # any case, any image suffix
        ("im-0115-0003.jpg", "IM-0115"),
        # Mendeley ChestXRay2017 v2/v3: the number is the patient, whatever the label.
        ("NORMAL-1003233-0001.jpeg", "1003233"),
        ("BACTERIA-7422-0001.jpeg", "7422"),
        ("virus-9584831-0002.jpeg", "9584831"),
        ("scan_0042.jpeg", "scan_0042"),  # unknown pattern: the stem
    ],
)
def test_kermany_patient_id(name: str, patient: str) -> None:
    assert kermany_patient_id(name) == patient


def test_mendeley_names_group_one_patient_across_labels(tmp_path: Path) -> None:
    names = ["train/NORMAL/NORMAL-1003233-0001.jpeg", "train/PNEUMONIA/VIRUS-1003233-0002.jpeg",
             "train/PNEUMONIA/BACTERIA-7422-0001.jpeg", "test/PNEUMONIA/BACTERIA-7422-0002.jpeg"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")  # the reader lists files, it does not decode them

    table, report = read_xray_dataset(tmp_path, task="subtype")

    assert sorted(zip(table["patient_id"], table["label"])) == [
        ("1003233", "normal"), ("1003233", "viral"),
        ("7422", "bacterial"), ("test/7422", "bacterial"),
    ]
    assert report["patient_id_fallbacks"] == 0 and report["patient_id_fallback_examples"] == []


@pytest.mark.parametrize(
    ("n_parsed", "n_stray", "warns"), [(20, 0, False), (200, 1, False), (20, 1, True), (2000, 11, True)]
)
def test_kermany_names_without_patient_id_are_counted_and_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, n_parsed: int, n_stray: int, warns: bool
) -> None:
    names = [f"train/NORMAL/IM-{i:04d}-0001.jpeg" for i in range(n_parsed)]
    names += [f"train/NORMAL/scan_{i:04d}.jpeg" for i in range(n_stray)]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")

    with caplog.at_level("WARNING", logger="voxray.data.xray.patients"):
        table, report = read_xray_dataset(tmp_path)

    assert report["patient_id_fallbacks"] == n_stray
    stray = [f"train/NORMAL/scan_{i:04d}.jpeg" for i in range(n_stray)]
    assert report["patient_id_fallback_examples"] == stray[:5]
    assert table["patient_id"].nunique() == n_parsed + n_stray
    warned = [r.getMessage() for r in caplog.records if "patient" in r.getMessage()]
    assert bool(warned) == warns
    if warns:
        assert f"{n_stray} of {n_parsed + n_stray}" in warned[0] and "scan_0000.jpeg" in warned[0]


def test_task_classes_are_ordered_and_normal_first_for_binary() -> None:
    assert XRAY_TASK_CLASSES["binary"] == ("normal", "pneumonia")
    assert XRAY_TASK_CLASSES["subtype"] == ("normal", "bacterial", "viral")
    assert len(XRAY_TASK_CLASSES["radiography"]) == 4
