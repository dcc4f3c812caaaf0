"""`eda.py` on a tiny voice corpus and a tiny X-ray set: every figure written, non-blank, linked."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib.image
import pandas as pd
from hydra.utils import instantiate

from tests.helpers.config import compose_cfg
from voxray.eda import eda

VOICE_FIGURES = ["label_counts", "clip_0", "clip_1", "features_raw", "features_log1p",
                 "feature_correlation", "mean_logmel_gender", "mean_logmel_age"]
XRAY_FIGURES = ["class_counts", "samples", "image_stats_class", "image_stats_source", "mean_images"]


def assert_figures(index: Path, names: list[str]) -> str:
    """Each figure is a real picture (not tiny, not one colour) and index.html shows it."""
    page = index.read_text()
    for name in names:
        png = index.parent / f"{name}.png"
        assert png.stat().st_size > 15_000, f"{png.name} is suspiciously small"
        assert matplotlib.image.imread(png)[..., :3].std() > 0.02, f"{png.name} is blank"
        assert f"src='{name}.png'" in page
    return page


def test_voice_eda_writes_every_figure(tmp_path: Path) -> None:
    cfg = compose_cfg("eda", tmp_path / "run", tmp_path / "cache", [
        "data.synthetic.n_speakers=16", "data.synthetic.clips_per_speaker=[2,4]",
        "data.clean.denoise=false", "eda.max_clips=30", "eda.n_examples=1", "eda.num_workers=1",
    ])
    index = eda(cfg)
    page = assert_figures(index, VOICE_FIGURES)
    assert "Raw age and gender labels" in page and "target=age" in page
    outliers = pd.read_csv(tmp_path / "run" / "feature_outliers.csv")
    assert list(outliers.columns) == ["path", "client_id", "split", "age", "gender", "feature", "value",
                                      "robust_z"]
    assert (outliers["robust_z"].abs() > 3.5).all()


def test_xray_eda_writes_every_figure_and_shows_a_cross_split_copy(tmp_path: Path) -> None:
    cfg = compose_cfg("eda", tmp_path / "run", tmp_path / "cache", [
        "data=xray", "data.synthetic.n_patients=30", "data.image_size=64", "data.synthetic.size=64",
        "eda.n_examples=3",
    ])
    # A training film copied into test under a new patient's name: leakage that training would
    # stop at, and that the EDA must show rather than stop at.
    root = instantiate(cfg.data).corpus_root()
    film = sorted((root / "train" / "NORMAL").glob("*.jpeg"))[0]
    shutil.copy(film, root / "test" / "NORMAL" / "IM-9999-0001.jpeg")
    page = assert_figures(eda(cfg), XRAY_FIGURES)
    assert "loss_weight" in page
    assert "<td>test+train</td>" in page, "the cross-split duplicate group is in the table"
    assert (tmp_path / "run" / "duplicates.csv").exists()
    stats = pd.read_csv(tmp_path / "run" / "image_stats.csv")
    assert (stats["width"] > 0).all() and stats["mode"].isin(["L", "RGB"]).all()
