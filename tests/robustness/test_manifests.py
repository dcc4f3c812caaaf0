"""Hostile and untidy tables: the X-ray manifest and the Common Voice TSV/CSV files.

Every case writes its own table in tmp_path. Images and clips are empty files: the readers list
and check files, they never decode them.
"""

import re
from pathlib import Path

import pytest

from voxray.data.voice.commonvoice import read_common_voice
from voxray.data.xray.layouts import read_xray_dataset

CV_HEADER = ["client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accents"]
ESCAPES = ["../outside.jpeg", "../../etc/passwd", "img/../../outside.jpeg", "/etc/passwd"]


def _files(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")


def _manifest(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.csv").write_bytes(text.encode())
    return root


def _tsv(path: Path, rows: list[list[str]], newline: str = "\n", bom: str = "") -> None:
    """Write a Common Voice TSV the way the releases are written: tabs, no quoting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(CV_HEADER)] + ["\t".join(row) for row in rows]
    path.write_bytes((bom + newline.join(lines) + newline).encode())


def _clip(client: str, path: str, sentence: str = "hello", age: str = "twenties") -> list[str]:
    return [client, path, sentence, "2", "0", age, "female", ""]


# X-ray manifest


@pytest.mark.parametrize("listed", ESCAPES)
def test_xray_manifest_path_leaving_the_root_is_refused(tmp_path: Path, listed: str) -> None:
    _files(tmp_path, "outside.jpeg", "data/img/a.jpeg")
    root = _manifest(tmp_path / "data", f"path,label\nimg/a.jpeg,normal\n{listed},normal\n")
    with pytest.raises(ValueError, match=rf"manifest\.csv, line 3: path '{re.escape(listed)}' "
                                         rf"leaves the data root {re.escape(str(root))}"):
        read_xray_dataset(root)


def test_xray_manifest_follows_symlinks_placed_inside_the_root(tmp_path: Path) -> None:
    _files(tmp_path, "mount/a.jpeg", "data/real/b.jpeg")
    (tmp_path / "data" / "linked").symlink_to(tmp_path / "mount")  # e.g. a read-only mount
    (tmp_path / "data" / "alias").symlink_to(tmp_path / "data" / "real")
    root = _manifest(tmp_path / "data", "path,label\nlinked/a.jpeg,normal\nalias/b.jpeg,bacteria\n")

    table, _ = read_xray_dataset(root)

    assert list(table["path"]) == [str(root / "alias" / "b.jpeg"), str(root / "linked" / "a.jpeg")]


def test_xray_manifest_unknown_labels_are_counted_by_value_and_left_out(tmp_path: Path) -> None:
    _files(tmp_path, "a.jpeg", "b.jpeg", "c.jpeg", "d.jpeg")
    root = _manifest(tmp_path, "path,label\na.jpeg,tuberculosis\nb.jpeg, tuberculosis\nc.jpeg,\n"
                               "d.jpeg,normal\n")

    table, report = read_xray_dataset(root)

    assert list(table["label"]) == ["normal"]
    assert report["ignored"] == {"unknown label 'tuberculosis'": 2, "blank label": 1}
    assert report["ignored_files"] == [str(tmp_path / n) for n in ("a.jpeg", "b.jpeg", "c.jpeg")]


def test_xray_manifest_duplicate_rows_are_kept_once_first_row_wins(tmp_path: Path) -> None:
    _files(tmp_path, "img/a.jpeg", "img/b.jpeg")
    root = _manifest(tmp_path, "path,label,patient_id\nimg/a.jpeg,normal,p1\nimg/b.jpeg,normal,p2\n"
                               "img/a.jpeg,normal,p1\n./img/../img/a.jpeg,pneumonia,p9\n")

    table, report = read_xray_dataset(root)

    assert list(zip(table["patient_id"], table["label"])) == [("p1", "normal"), ("p2", "normal")]
    assert report["ignored"] == {"listed again (first row kept)": 2}
    assert report["n_images"] == 2


def test_xray_manifest_missing_file_is_counted_and_left_out(tmp_path: Path) -> None:
    _files(tmp_path, "a.jpeg")
    root = _manifest(tmp_path, "path,label\n a.jpeg ,normal\ngone.jpeg,pneumonia\n")

    table, report = read_xray_dataset(root)

    assert len(table) == 1
    assert report["ignored"] == {"listed but not found": 1}
    assert report["ignored_files"] == [str(tmp_path / "gone.jpeg")]


def test_xray_manifest_bom_crlf_and_quoted_commas(tmp_path: Path) -> None:
    _files(tmp_path, "a.jpeg", 'scan, "left".jpeg')
    root = _manifest(tmp_path, '\ufeffpath,label,patient_id\r\na.jpeg,normal,p1\r\n'
                               '"scan, ""left"".jpeg",bacteria,p2\r\n')

    table, _ = read_xray_dataset(root)

    assert list(table["patient_id"]) == ["p1", "p2"]  # no '\r' kept, BOM not in the header
    assert list(table["label"]) == ["normal", "pneumonia"]


def test_xray_manifest_not_in_utf8_is_a_clear_error(tmp_path: Path) -> None:
    _files(tmp_path, "a.jpeg")
    (tmp_path / "manifest.csv").write_bytes("path,label\nradiographie_é.jpeg,normal\n".encode("cp1252"))
    with pytest.raises(ValueError, match=r"manifest\.csv is not UTF-8 text .*save it as UTF-8"):
        read_xray_dataset(tmp_path)


@pytest.mark.parametrize("extra_on_line", [2, 3])
def test_xray_manifest_row_with_extra_fields_is_an_error(tmp_path: Path, extra_on_line: int) -> None:
    _files(tmp_path, "a.jpeg", "b.jpeg")
    rows = ["a.jpeg,normal", "b.jpeg,normal"]
    rows[extra_on_line - 2] += ",extra"
    root = _manifest(tmp_path, "path,label\n" + "\n".join(rows) + "\n")
    message = rf"manifest\.csv, line {extra_on_line}: 3 fields but the header has 2"
    with pytest.raises(ValueError, match=message):
        read_xray_dataset(root)


# Common Voice tables


@pytest.mark.parametrize("listed", ESCAPES)
def test_common_voice_path_leaving_the_root_is_refused(tmp_path: Path, listed: str) -> None:
    root = tmp_path / "cv"
    _tsv(root / "validated.tsv", [_clip("c1", "a.mp3"), _clip("c2", listed)])
    with pytest.raises(ValueError, match=rf"validated\.tsv, line 3: path '{re.escape(listed)}' "
                                         rf"leaves the data root {re.escape(str(root / 'clips'))}"):
        read_common_voice(root)


def test_kaggle_filename_leaving_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "kaggle"
    root.mkdir()
    (root / "cv-valid-train.csv").write_text(
        "filename,age,gender\ncv-valid-train/a.mp3,teens,male\n../../etc/passwd,teens,male\n"
    )
    message = r"cv-valid-train\.csv, line 3: path '\.\./\.\./etc/passwd' leaves the data root"
    with pytest.raises(ValueError, match=message):
        read_common_voice(root)


def test_common_voice_missing_columns_are_named_with_those_present(tmp_path: Path) -> None:
    root = tmp_path / "cv"
    root.mkdir()
    (root / "validated.tsv").write_text("path\tsentence\na.mp3\thi\n")
    message = r"validated\.tsv lacks columns \['client_id'\]; it has \['path', 'sentence'\]"
    with pytest.raises(ValueError, match=message):
        read_common_voice(root)


def test_common_voice_duplicate_rows_are_kept_once_and_counted(tmp_path: Path) -> None:
    root = tmp_path / "cv"
    _tsv(root / "validated.tsv", [_clip("c1", "a.mp3"), _clip("c2", "b.mp3"), _clip("c9", "a.mp3")])

    table = read_common_voice(root)

    assert list(zip(table["client_id"], table["path"])) == [
        ("c1", str(root / "clips" / "a.mp3")), ("c2", str(root / "clips" / "b.mp3"))
    ]
    left_out = table.attrs["report"]["rows_left_out"]
    assert left_out == {"listed again in validated.tsv (first row kept)": 1}


def test_common_voice_clip_in_two_split_files_stays_in_the_held_out_one(tmp_path: Path) -> None:
    root = tmp_path / "cv"
    _tsv(root / "train.tsv", [_clip("c1", "a.mp3"), _clip("c1", "shared.mp3")])
    _tsv(root / "dev.tsv", [_clip("c2", "b.mp3"), _clip("c2", "shared.mp3")])
    _tsv(root / "test.tsv", [_clip("c3", "c.mp3"), _clip("c3", "shared.mp3")])

    table = read_common_voice(root)

    assert table.set_index("path")["split"].to_dict() == {
        str(root / "clips" / name): split for name, split in
        [("a.mp3", "train"), ("b.mp3", "val"), ("c.mp3", "test"), ("shared.mp3", "test")]
    }
    assert table.attrs["report"]["rows_left_out"] == {"also listed in test.tsv (kept there)": 2}


def test_common_voice_bom_crlf_and_quotes_keep_rows_and_columns(tmp_path: Path) -> None:
    root = tmp_path / "cv"
    sentences = ['He said "stop', '"Quoted" at the start', "it's", 'a "b" c', "plain"]
    rows = [_clip(f"c{i}", f"{i}.mp3", s, age="thirties") for i, s in enumerate(sentences)]
    _tsv(root / "validated.tsv", rows, newline="\r\n", bom="\ufeff")

    table = read_common_voice(root)

    assert list(table["client_id"]) == [f"c{i}" for i in range(5)]  # BOM not in the first name
    assert set(table["age"]) == {"thirties"} and set(table["gender"]) == {"female"}
    assert table.attrs["report"]["rows_left_out"] == {}


@pytest.mark.parametrize("bad_rows", [[0], [2], [0, 3]])
def test_common_voice_row_with_a_stray_tab_is_left_out_not_shifted(
    tmp_path: Path, bad_rows: list[int]
) -> None:
    root = tmp_path / "cv"
    rows = [_clip(f"c{i}", f"{i}.mp3", age="teens") for i in range(4)]
    for i in bad_rows:
        rows[i][2] = "a tab\tinside"
    _tsv(root / "validated.tsv", rows)

    table = read_common_voice(root)

    assert list(table["client_id"]) == [f"c{i}" for i in range(4) if i not in bad_rows]
    assert set(table["age"]) == {"teens"}
    report = table.attrs["report"]
    assert report["rows_left_out"] == {"more fields than the header": len(bad_rows)}
    assert report["rows_left_out_examples"][0].startswith(f"validated.tsv line {bad_rows[0] + 2}:")


def test_common_voice_blank_path_is_left_out_and_missing_clips_are_kept(tmp_path: Path) -> None:
    root = tmp_path / "cv"
    _tsv(root / "validated.tsv", [_clip("c1", "never_downloaded.mp3"), _clip("c2", "")])

    table = read_common_voice(root)

    # a clip listed but absent stays: the cache step counts it as skipped
    assert list(table["path"]) == [str(root / "clips" / "never_downloaded.mp3")]
    assert table.attrs["report"]["rows_left_out"] == {"no clip path": 1}
