from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import tables
from tests.helpers.voices import write_official
from voxray.data.voice.commonvoice import apply_label_map, apply_label_maps, read_common_voice

AGE_MAP = {"teens": "teens", "twenties": "twenties", "thirties": "thirties", "seventies": "sixties+"}
AGE_CLASSES = ["teens", "twenties", "thirties", "sixties+"]
GENDER_MAP = {"male": "male", "male_masculine": "male", "female": "female", "female_feminine": "female"}


def test_official_validated_layout(official_corpus: Path) -> None:
    table = read_common_voice(official_corpus)
    assert len(table) == 38
    assert set(table["split"]) == {""}
    assert all(Path(p).is_file() for p in table["path"])
    assert table["client_id"].str.startswith(("spk", "other", "blank")).all()


def test_official_split_files_are_used(tmp_path: Path) -> None:
    rows = [{"client_id": f"s{i}", "age": "twenties", "gender": "male"} for i in range(6)]
    root = write_official(tmp_path / "cv", rows, splits={"train": [0, 1, 2], "dev": [3], "test": [4, 5]})
    table = read_common_voice(root)
    assert table["split"].value_counts().to_dict() == {"train": 3, "test": 2, "val": 1}


def test_kaggle_layout(tmp_path: Path) -> None:
    root = tmp_path / "kaggle"
    for split, n in [("train", 3), ("dev", 1), ("test", 2)]:
        clips = root / f"cv-valid-{split}" / f"cv-valid-{split}"  # the download nests the folder
        clips.mkdir(parents=True)
        names = [f"cv-valid-{split}/sample-{i:06d}.mp3" for i in range(n)]
        for name in names:
            (clips / Path(name).name).write_bytes(b"")
        pd.DataFrame({"filename": names, "text": "hi", "up_votes": 1, "down_votes": 0,
                      "age": ["fourties"] * n, "gender": ["female"] * n, "accent": "", "duration": ""}
                     ).to_csv(root / f"cv-valid-{split}.csv", index=False)
    table = read_common_voice(root)
    assert table["split"].value_counts().to_dict() == {"train": 3, "test": 2, "val": 1}
    assert all(Path(p).is_file() for p in table["path"]), "nested clip folder must be found"
    assert table["client_id"].nunique() == 6


def test_unknown_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="validated.tsv"):
        read_common_voice(tmp_path)


def test_label_maps_merge_and_count_exclusions(official_corpus: Path) -> None:
    table = read_common_voice(official_corpus)
    ages, report = apply_label_map(table, "age", AGE_MAP, AGE_CLASSES)
    assert set(ages["label_name"]) == {"teens", "twenties", "thirties", "sixties+"}
    assert (ages.loc[ages["label_name"] == "sixties+", "age"] == "seventies").all()
    assert report == {"kept": 37, "excluded": {"blank": 1}}
    genders, report = apply_label_map(table, "gender", GENDER_MAP, ["female", "male"])
    assert report["excluded"] == {"blank": 1, "do_not_wish_to_say": 1}
    assert report["kept"] + sum(report["excluded"].values()) == len(table)
    assert genders["label"].tolist() == [int(n == "male") for n in genders["label_name"]]


def test_label_map_must_target_known_classes() -> None:
    table = pd.DataFrame({"age": ["teens"]})
    with pytest.raises(ValueError, match="not among classes"):
        apply_label_map(table, "age", {"teens": "kids"}, ["teens", "adults"])


# Label maps of seeded random tables (a quarter blank ages, unmapped genders, speakers changing
# labels), pinned: table seed -> fingerprints of (age rows, age report, gender rows, gender report,
# joint rows, joint report).
PINNED_LABELS = {
    0: ("85f329f4f296f5fb", "c9b95aab0f3605c0", "8eb42b8df13c3ca3", "2e35a0388ee6f903",
        "818602789c5719e7", "63596266aeaef464"),
    1: ("f9466394d92e9295", "c096b87d0d42231c", "c0116c61768ae293", "a251db4f67b06663",
        "7d1a615eb737a2d8", "953806afc69a81f7"),
}


@pytest.mark.parametrize("seed", PINNED_LABELS)
def test_label_maps_of_random_tables_are_pinned(seed: int) -> None:
    raw = tables.raw_table(seed, 500)
    age = apply_label_map(raw, "age", tables.AGE_MAP, tables.AGE_CLASSES)
    gender = apply_label_map(raw, "gender", tables.GENDER_MAP, tables.GENDER_CLASSES)
    joint = apply_label_maps(raw, {"age": (tables.AGE_MAP, tables.AGE_CLASSES),
                                   "gender": (tables.GENDER_MAP, tables.GENDER_CLASSES)})
    assert tuple(tables.fingerprint(x) for x in (*age, *gender, *joint)) == PINNED_LABELS[seed]
