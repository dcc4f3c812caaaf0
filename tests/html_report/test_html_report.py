"""report.html of train and eval runs, summary.html of sweeps, and train.py --help."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from tests.helpers.config import XRAY_FAST, compose_cfg, pretrained_file
from tests.helpers.html import Page, shown
from voxray.cli.sweep import summarise
from voxray.evaluate import evaluate
from voxray.evaluation.metrics import multiclass_report
from voxray.evaluation.speakers import speaker_report
from voxray.html_report.calibration import reliability_bins
from voxray.html_report.curves import operating_points
from voxray.html_report.run_files import RunFiles, read_run
from voxray.html_report.tables import data_html, metrics_html
from voxray.train import train


def lookup(metrics: dict, key: str) -> object:
    """metrics.json's value of a page key: `test/uar`, `test/at_threshold/sensitivity_ci95`, ..."""
    if key in metrics:
        return metrics[key]
    stage, block, name = key.split("/", 2)
    return metrics[f"{stage}/{block}"][name]


@pytest.fixture(scope="module")
def xray_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-epoch X-ray training (its report written by train) and an eval of its checkpoint."""
    tmp = tmp_path_factory.mktemp("report")
    weights = pretrained_file(tmp)
    train(compose_cfg("train", tmp / "run", tmp / "cache", [*XRAY_FAST, f"model.net.weights={weights}",
                                                            "trainer.max_epochs=2"]))
    ckpt = json.loads((tmp / "run" / "metrics.json").read_text())["checkpoint"]
    evaluate(compose_cfg("eval", tmp / "eval", tmp / "cache", [f"ckpt_path={ckpt}", "trainer=cpu"]))
    return tmp


@pytest.mark.parametrize("run", ["run", "eval"])
def test_every_figure_exists_and_every_number_equals_metrics_json(xray_runs: Path, run: str) -> None:
    folder = xray_runs / run
    page = Page(folder / "report.html")
    assert len(page.images) >= 6
    for src in page.images:
        assert not src.startswith(("/", "http")) and (folder / src).stat().st_size > 1000, src
    metrics = json.loads((folder / "metrics.json").read_text())
    numbers = {k: v for k, v in page.values.items() if k != "ece"}
    for key, text in numbers.items():
        assert shown(text) == pytest.approx(lookup(metrics, key), abs=5e-5), key
    scalars = [k for k, v in metrics.items() if k.startswith("test/") and isinstance(v, int | float)]
    assert set(scalars) <= set(numbers), "every test scalar of metrics.json is on the page"
    assert "test/at_threshold/sensitivity_ci95" in numbers and "test/uar_ci95" in numbers


def test_xray_report_has_the_threshold_matrix_and_a_gallery_by_outcome(xray_runs: Path) -> None:
    folder = xray_runs / "run"
    page = Page(folder / "report.html")
    assert "confusion_matrix_test_at_threshold.png" in page.images
    threshold = json.loads((folder / "metrics.json").read_text())["test/at_threshold"]["threshold"]
    gallery = pd.read_csv(folder / "report" / "gradcam" / "gradcam.csv")
    assert len(gallery) >= 2 and set(gallery["group"]) <= {"true_positive", "false_negative", "false_positive"}
    assert {f"report/gradcam/{f}" for f in gallery["file"]} <= set(page.images)
    # each film sits in the group its score and the threshold put it in, with a score from the CSV
    called = gallery["p"] >= threshold
    assert (called == gallery["group"].isin(["true_positive", "false_positive"])).all()
    scores = pd.read_csv(folder / "test_predictions.csv")["prob/pneumonia"].to_numpy()
    assert all(np.abs(scores - p).min() < 1e-6 for p in gallery["p"])


def test_learning_curves_in_train_runs_only(xray_runs: Path) -> None:
    epochs = pd.read_csv(xray_runs / "run" / "epochs.csv")
    assert epochs["epoch"].tolist() == [0, 1]
    last = json.loads((xray_runs / "run" / "train_metrics.json").read_text())
    assert epochs["train/loss"].iloc[-1] == pytest.approx(last["train/loss"])
    assert epochs["val/auroc"].notna().all()
    assert "report/learning_curves.png" in Page(xray_runs / "run" / "report.html").images
    evaluation = Page(xray_runs / "eval" / "report.html")
    assert "report/learning_curves.png" not in evaluation.images and "this run did not train" in evaluation.text
    assert "test_resnet" in evaluation.text, "an eval report shows its checkpoint's model settings"


@pytest.mark.parametrize("run", ["run", "eval"])
def test_the_report_names_the_tested_epoch(xray_runs: Path, run: str) -> None:
    """Train and eval both test best.ckpt: the learning curves mark, and the titles name, its epoch."""
    epoch = torch.load(xray_runs / "run" / "checkpoints" / "best.ckpt", weights_only=True)["epoch"]
    files = read_run(xray_runs / run)
    assert files.tested_epoch == epoch and files.checkpoint == f"best.ckpt (epoch {epoch})"


def test_ece_is_torchmetrics_on_the_predictions_and_the_bins_add_up_to_it(xray_runs: Path) -> None:
    folder = xray_runs / "run"
    table = pd.read_csv(folder / "test_predictions.csv")
    probs = torch.tensor(table[["prob/normal", "prob/pneumonia"]].to_numpy()).float()
    labels = torch.tensor((table["label"] == "pneumonia").to_numpy()).long()
    ece = float(multiclass_calibration_error(probs, labels, 2, n_bins=10, norm="l1"))
    assert shown(Page(folder / "report.html").values["ece"]) == pytest.approx(ece, abs=5e-5)
    _, confidence, accuracy, rows = reliability_bins(probs, labels)
    filled = rows > 0
    drawn = float((rows[filled] / rows.sum() * np.abs(accuracy[filled] - confidence[filled])).sum())
    assert drawn == pytest.approx(ece, abs=1e-6), "the diagram's bins are the ones the ECE is taken over"


def test_multiclass_operating_points_are_argmax_one_vs_rest() -> None:
    confmat = [[5, 1, 0], [2, 6, 2], [0, 0, 4]]  # rows true
    metrics = {"stage": "test", "checkpoint": "", "class_names": ["a", "b", "c"], "test/confmat": confmat}
    run = RunFiles(Path("."), metrics, pd.DataFrame(), {}, None, {}, [])
    points = operating_points(run.tasks[0])
    assert points["b"] == pytest.approx((1 / 10, 6 / 10, 6 / 7))  # FPR: 1 of the 10 non-b rows called b
    assert points["c"] == pytest.approx((2 / 16, 1.0, 4 / 6))


def test_an_undefined_interval_says_how_many_people_its_class_has(tmp_path: Path) -> None:
    """Three women and one man: the man's class and the UAR have no interval, at clip and at speaker
    level; the page says so in the interval's cell, and counts each class's people."""
    groups = np.repeat(["f1", "f2", "f3", "m1"], 4)
    targets = torch.tensor([0] * 12 + [1] * 4)
    probs = torch.eye(2)[torch.tensor([0, 0, 0, 1] * 3 + [1, 1, 0, 0])]
    metrics = {f"test/{k}": v for k, v in multiclass_report(probs, targets, groups, ["f", "m"], n_boot=50).items()}
    metrics["test/speaker"] = speaker_report(probs, targets, groups, ["f", "m"], n_boot=50)
    (tmp_path / "page.html").write_text(metrics_html(metrics, "test", "Metrics", unit="speaker"))
    page = Page(tmp_path / "page.html")
    for key in ("test/uar_ci95", "test/recall/m_ci95", "test/speaker/uar_ci95", "test/speaker/recall/m_ci95"):
        assert page.values[key] == "undefined (1 speaker in class m)", key
    assert shown(page.values["test/recall/f_ci95"]) == pytest.approx(metrics["test/recall/f_ci95"])
    assert page.text.count("Speakers per class: f 3, m 1.") == 2


def test_sweep_page_links_each_trial_report(xray_runs: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "multirun"
    for job, lr in (("0", 0.001), ("1", 0.01)):
        shutil.copytree(xray_runs / "run", sweep / job, ignore=shutil.ignore_patterns("checkpoints"))
        (sweep / job / ".hydra").mkdir()
        (sweep / job / ".hydra" / "overrides.yaml").write_text(f"- model.optimizer.lr={lr}\n")
        (sweep / job / ".hydra" / "config.yaml").write_text(f"model:\n  optimizer:\n    lr: {lr}\n")
    (sweep / "1" / "train_metrics.json").write_text(json.dumps({"val/auroc": 0.25}))
    (sweep / "2" / ".hydra").mkdir(parents=True)  # a trial that failed before writing anything
    (sweep / "2" / ".hydra" / "overrides.yaml").write_text("- model.optimizer.lr=1.0\n")
    summarise(sweep, "val/auroc")
    page = Page(sweep / "summary.html")
    assert page.links == ["0/report.html", "1/report.html"] and all((sweep / link).is_file() for link in page.links)
    best = json.loads((sweep / "0" / "train_metrics.json").read_text())["val/auroc"]
    assert shown(page.values["0"]) == pytest.approx(best, abs=5e-5) and shown(page.values["1"]) == 0.25
    assert shown(page.values["2"]) is None and "failed or unfinished" in page.text
    assert "model.optimizer.lr=0.01" in page.text, "each trial's own overrides"


@pytest.mark.slow  # a real browser (Debian package chromium): ~4 s on the 2-core box, skipped without it
def test_report_renders_in_a_headless_browser(xray_runs: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or pytest.skip("no chromium (Debian package chromium)")
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,3000", (xray_runs / "run" / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (3000, 1200) and pixels.std() > 20, "the page draws text and figures"


def test_the_data_section_warns_of_an_evaluation_class_with_few_speakers() -> None:
    counts = {"train": {"female": 20, "male": 40}, "val": {"female": 2, "male": 7}, "test": {"female": 6, "male": 8}}
    data = {"rows": {"train": 300, "val": 40, "test": 50}, "speakers": {"train": 60, "val": 9, "test": 14},
            "speakers_per_class": counts, "few_speakers": "fewer than 5 speakers in a class of the validation "
                                                          "or test split (val female: 2): ..."}
    run = RunFiles(Path("."), {"stage": "test", "checkpoint": "", "class_names": ["female", "male"]},
                   pd.DataFrame(), data, None, {}, [])
    html = data_html(run)
    assert "<p class='warning'>Warning: fewer than 5 speakers" in html and "(val female: 2)" in html, \
        "shown above the table"
    data.pop("few_speakers")
    assert "warning" not in data_html(run)
