"""The synthetic chest X-ray corpus: layout, determinism, resumption, and a visible disease."""

import json
from pathlib import Path

import numpy as np
import pytest

from voxray.data.xray.layouts import read_xray_dataset
from voxray.data.xray.splits import check_patient_disjoint
from voxray.synth.radiograph import render_xray
from voxray.synth.xray import build_xray_corpus

N_PATIENTS, SIZE = 40, 64


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("synth")
    return build_xray_corpus(out_dir, N_PATIENTS, SIZE, seed=0, num_workers=2)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.jpeg"))}


def test_corpus_is_a_kermany_layout_the_reader_accepts(corpus: Path) -> None:
    table, report = read_xray_dataset(corpus.parent)

    assert corpus.name == "chest_xray" and report["layout"] == "kermany"
    assert report["ignored"] == {}  # no temporary files or markers inside the dataset
    assert set(table["split"]) == {"train", "val", "test"}
    assert set(table["label"]) == {"normal", "pneumonia"}
    assert table["label"].eq("pneumonia").mean() > 0.5  # imbalanced like the real set
    assert table.groupby("patient_id").size().between(1, 3).all()
    assert table["split"].eq("val").sum() <= 8  # the official-like tiny val
    check_patient_disjoint(table)
    subtype, _ = read_xray_dataset(corpus, task="subtype")
    assert set(subtype["label"]) == {"normal", "bacterial", "viral"}


def test_same_seed_same_bytes_other_seed_other_images(corpus: Path, tmp_path: Path) -> None:
    again = build_xray_corpus(tmp_path / "again", N_PATIENTS, SIZE, seed=0, num_workers=0)
    assert _files(again) == _files(corpus)
    other = build_xray_corpus(tmp_path / "other", N_PATIENTS, SIZE, seed=1, num_workers=0)
    assert _files(other) != _files(corpus)


def test_complete_corpus_is_reused_and_a_partial_one_resumes(tmp_path: Path) -> None:
    root = build_xray_corpus(tmp_path, 12, SIZE, num_workers=0)
    first = _files(root)
    marker = tmp_path / ".complete"
    assert json.loads(marker.read_text())["n_patients"] == 12

    victim = next(root.rglob("*.jpeg"))
    victim.write_bytes(b"")  # untouched while the marker says complete
    build_xray_corpus(tmp_path, 12, SIZE, num_workers=0)
    assert victim.read_bytes() == b""

    victim.unlink()
    marker.unlink()  # as if interrupted before the end
    build_xray_corpus(tmp_path, 12, SIZE, num_workers=0)
    assert _files(root) == first

    with pytest.raises(ValueError, match="delete it or choose another out_dir"):
        build_xray_corpus(tmp_path, 13, SIZE, num_workers=0)


def test_pneumonia_brightens_the_lungs_of_the_same_film() -> None:
    """Rendering (patient, index) as normal gives the same film without the opacity."""
    lung_gain, elsewhere = [], []
    for i in range(24):
        kind = ("bacteria", "virus")[i % 2]
        sick = render_xray(kind, patient=i, index=i, size=96).astype(float)
        well = render_xray("normal", patient=i, index=i, size=96).astype(float)
        height, width = well.shape
        scale = min(height, width) / 2
        rows = slice(int(height / 2 - 0.5 * scale), int(height / 2 + 0.4 * scale))
        lungs = np.r_[int(width / 2 - 0.6 * scale) : int(width / 2 - 0.25 * scale),
                      int(width / 2 + 0.25 * scale) : int(width / 2 + 0.6 * scale)]
        diff = sick - well
        lung_gain.append(diff[rows][:, lungs].mean())
        elsewhere.append(np.abs(diff[-3:]).mean())  # the abdomen at the bottom edge
    assert np.mean(lung_gain) > 3 and np.mean(np.array(lung_gain) > 0) > 0.9
    assert np.mean(elsewhere) < 0.5


def test_render_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="bacteria"):
        render_xray("fungal", 0, 0)
