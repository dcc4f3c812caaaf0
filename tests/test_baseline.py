"""The classical baseline: speaker-grouped CV, the CNN's metric names, comparison, embeddings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from tests.helpers.config import ROOT, compose_cfg
from voxray.baseline import baseline, score_test, write_comparison
from voxray.cli.checks import check_baseline
from voxray.errors import UserError
from voxray.evaluation.speakers import speaker_report, speaker_uar

CLASSES = ["female", "male"]


def fake_run(folder: Path, uar: float, config: str | None,
             speaker: tuple[float, list[float]] | None = None) -> Path:
    """A CNN run folder with metrics.json (and the run's saved config, if given; the speaker UAR and
    its interval, if given)."""
    folder.mkdir(parents=True)
    metrics = {"class_names": CLASSES, "test/uar": uar, "test/acc": uar}
    if speaker is not None:
        metrics |= {"test/speaker/uar": speaker[0], "test/speaker": {"uar": speaker[0], "uar_ci95": speaker[1]}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    if config is not None:
        (folder / ".hydra").mkdir()
        (folder / ".hydra" / "config.yaml").write_text(config)
    return folder / "metrics.json"


def test_gender_baseline_uses_speaker_grouped_folds_and_beats_chance(tmp_path: Path) -> None:
    other_seed = fake_run(tmp_path / "cnn_a", 0.91, "seed: 7\ndata:\n  target: gender\n  seed: ${seed}\n")
    no_config = fake_run(tmp_path / "cnn_b", 0.93, None)
    run = tmp_path / "run"
    cfg = compose_cfg("baseline", run, tmp_path / "cache", [
        "data.target=gender", "data.synthetic.n_speakers=24", "data.synthetic.clips_per_speaker=[3,5]",
        "data.clean.denoise=false", "baseline.features.num_workers=1", "cv.n_splits=3",
        "grid.clf__C=[0.1,10.0]", f"cnn_metrics=['{other_seed}','{no_config}']",
    ])
    metrics = baseline(cfg)
    print(f"handcrafted gender baseline: test/uar={metrics['test/uar']:.3f} cv/uar={metrics['cv/uar']:.3f}")
    assert metrics["test/uar"] >= 0.7

    folds = pd.read_csv(run / "cv_folds.csv")
    assert (folds.groupby("client_id")["fold"].nunique() == 1).all(), "a speaker is in two folds"
    assert sorted(folds["fold"].unique()) == [0, 1, 2]
    assert set(folds["split"]) == {"train", "val"}, "test clips never enter the search"

    saved = json.loads((run / "metrics.json").read_text())
    for key in ("test/uar", "test/uar_ci95", "test/acc", "test/recall/female", "test/recall/male", "test/confmat",
                "test/speaker/uar"):
        assert key in saved, key
    assert saved["test/speaker"]["uar"] == saved["test/speaker/uar"] and "uar_ci95" in saved["test/speaker"]
    assert np.sum(saved["test/confmat"]) == json.loads((run / "data_report.json").read_text())["rows"]["test"]
    assert len(pd.read_csv(run / "cv_results.csv")) == 3 * 2 * 2  # scalers x PCA x C
    assert (run / "confusion_matrix_test.png").stat().st_size > 5000
    table = (run / "comparison.md").read_text()
    assert "| baseline: handcrafted |" in table
    assert "| CNN: cnn_a | 0.910 | - | 0.910 | - | no: seed differ |" in table  # no speaker level in that run
    assert "| CNN: cnn_b | 0.930 | - | 0.930 | - | unknown |" in table


def test_the_baseline_scores_speakers_as_the_cnn_does_and_compares_both_levels(tmp_path: Path) -> None:
    """The CNN's headline is per speaker: the baseline writes the same speaker keys, from the same
    decisions (mean log-probability of each speaker's clips) with the same intervals, and
    comparison.md shows clips and speakers for every model."""
    groups = np.repeat([f"f{i}" for i in range(4)] + [f"m{i}" for i in range(4)], 5)
    labels = np.array([0] * 20 + [1] * 20)
    rng = np.random.default_rng(0)
    p_male = np.clip(0.35 + 0.3 * labels + rng.normal(0, 0.25, len(labels)), 0.01, 0.99)
    probs = np.stack([1 - p_male, p_male], axis=1)
    metrics = score_test(probs, labels, CLASSES, groups, n_boot=50)
    p, y = torch.tensor(probs, dtype=torch.float32), torch.tensor(labels)
    assert metrics["test/speaker/uar"] == speaker_uar(p, y, groups)  # the CNN's test/speaker/uar
    assert metrics["test/speaker"] == speaker_report(p, y, groups, CLASSES, n_boot=50)
    lo, hi = metrics["test/speaker"]["uar_ci95"]
    assert lo <= metrics["test/speaker/uar"] <= hi

    cnn = fake_run(tmp_path / "cnn", 0.8, None, speaker=(0.875, [0.75, 1.0]))
    metrics |= {"cv/uar": 0.7}
    cfg = OmegaConf.create({"data": {"target": "gender"}, "baseline": {"name": "handcrafted"},
                            "cnn_metrics": [str(cnn)]})
    table = write_comparison(tmp_path, metrics, CLASSES, cfg).read_text()
    assert "| model | clips: test/uar (95% CI) | speakers: test/speaker/uar (95% CI) |" in table
    clip_ci, people = metrics["test/uar_ci95"], metrics["test/speaker"]
    assert (f"| baseline: handcrafted | {metrics['test/uar']:.3f} ({clip_ci[0]:.2f}-{clip_ci[1]:.2f}) "
            f"| {people['uar']:.3f} ({people['uar_ci95'][0]:.2f}-{people['uar_ci95'][1]:.2f}) |") in table
    assert "| CNN: cnn | 0.800 | 0.875 (0.75-1.00) | 0.800 | - | unknown |" in table


JOINT_ERROR = (r"data.target=\['age', 'gender'\]: the baseline scores one target at a time; "
               r"pass data.target=age or data.target=gender")


def test_a_joint_target_is_a_one_line_error_before_any_data_is_read(tmp_path: Path) -> None:
    """A list of targets (the joint model's) used to reach the datamodule and misread the combined
    label; the baseline fits one logistic regression per target, so it stops at the command."""
    joint_classes = "data.classes={age:${data.labels.age.classes},gender:${data.labels.gender.classes}}"
    cfg = compose_cfg("baseline", tmp_path / "run", tmp_path / "cache", ["data.target=[age,gender]", joint_classes])
    with pytest.raises(UserError, match=JOINT_ERROR):
        check_baseline(cfg)
    check_baseline(compose_cfg("baseline", tmp_path / "run", tmp_path / "cache", ["data.target=gender"]))
    command = [sys.executable, "baseline.py", "data.target=[age,gender]", f"hydra.run.dir={tmp_path / 'cli'}",
               f"paths.cache_dir={tmp_path / 'cli_cache'}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1 and re.fullmatch("error: " + JOINT_ERROR + r".*\n", done.stderr), done.stderr
    assert not (tmp_path / "cli_cache").exists(), "stopped before preparing any data"
