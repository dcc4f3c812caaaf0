"""report.html of a joint age+gender run: one section per task, each scored on the rows with its label."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from tests.helpers.config import JOINT, TASKS, compose_cfg
from tests.helpers.html import Page, shown
from tests.helpers.voices import make_joint_corpus
from voxray.html_report.figures import learning_figure, recall_figure
from voxray.html_report.run_files import RunFiles
from voxray.train import train


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-epoch joint training (its report written by train) on a corpus where some clips have no age."""
    root = tmp_path_factory.mktemp("joint_report")
    corpus = make_joint_corpus(root / "cv")
    train(compose_cfg("train", root / "run", root / "cache", [f"data.root={corpus}", *JOINT]))
    return root / "run"


def lookup(metrics: dict, key: str) -> object:
    """metrics.json's value of a page key, a flat key (`test/age/uar`) or one inside a block
    (`test/age/speaker/uar_ci95` is `metrics["test/age/speaker"]["uar_ci95"]`)."""
    parts = key.split("/")
    for cut in range(len(parts), 0, -1):
        head = "/".join(parts[:cut])
        if head in metrics:
            value = metrics[head]
            return value if cut == len(parts) else value["/".join(parts[cut:])]
    raise KeyError(key)


def test_each_task_has_its_section_figures_and_numbers_from_metrics_json(run: Path) -> None:
    page = Page(run / "report.html")
    metrics = json.loads((run / "metrics.json").read_text())
    for src in page.images:
        assert not src.startswith(("/", "http")) and (run / src).stat().st_size > 1000, src
    for task in TASKS:
        assert f"Task: {task}" in page.text
        assert {f"report/recall_test_{task}.png", f"confusion_matrix_test_{task}.png",
                f"report/confusion_matrix_test_{task}_speaker.png", f"report/roc_pr_test_{task}.png",
                f"report/reliability_test_{task}.png"} <= set(page.images), task
    numbers = {k: v for k, v in page.values.items() if not k.endswith("/ece")}
    for key, text in numbers.items():
        assert shown(text) == pytest.approx(lookup(metrics, key), abs=5e-5), key
    scalars = {k for k, v in metrics.items() if k.startswith("test/") and isinstance(v, int | float | None)}
    assert scalars <= set(numbers), "every test scalar of metrics.json is on the page"
    assert {"test/uar", "test/age/uar_ci95", "test/gender/recall/male_ci95",
            "test/age/speaker/uar_ci95"} <= set(numbers)
    assert {"test/uar_ci95", "test/speaker/uar_ci95", "test/speaker/n_speakers"} <= set(numbers), \
        "the headline has its CIs"
    headline = page.text.split("Task: age")[0]
    assert "test/uar is the mean of the tasks' UARs (age, gender)" in headline
    assert not re.search(r"recall/(teens|female)", headline), "a task's metrics sit in its own section"


def test_each_task_ece_is_torchmetrics_on_the_rows_with_its_label(run: Path) -> None:
    table = pd.read_csv(run / "test_predictions.csv", keep_default_na=False)
    page = Page(run / "report.html")
    for task, classes in TASKS.items():
        rows = table[table[f"label/{task}"] != ""]
        probs = torch.tensor(rows[[f"prob/{task}/{c}" for c in classes]].to_numpy(dtype=float)).float()
        labels = torch.tensor(rows[f"label/{task}"].map(classes.index).to_numpy())
        ece = float(multiclass_calibration_error(probs, labels, len(classes), n_bins=10, norm="l1"))
        assert shown(page.values[f"{task}/ece"]) == pytest.approx(ece, abs=5e-5), task
        assert f"over the {len(rows)} test rows labelled for {task}" in page.text
    assert (table["label/age"] == "").sum() > 0, "the corpus leaves some clips without an age"


def test_recall_figure_marks_each_absent_class_inside_the_axes_and_clear_of_the_legend() -> None:
    """The joint run's last age class had no test row: its "n/a" fell right of the axes, or under the legend."""
    metrics = {"stage": "test", "checkpoint": "", "class_names": {"age": ["a", "b", "c"]},
               "test/age/recall/a": 0.5, "test/age/recall/b": 1.0, "test/age/recall/c": None,
               "test/age/speaker": {"recall/a": 0.5, "recall/b": 1.0, "recall/c": None}}
    fig = recall_figure(RunFiles(Path("."), metrics, pd.DataFrame(), {}, None, {}, []).tasks[0])
    fig.canvas.draw()
    ax = fig.axes[0]
    marks = [text.get_window_extent() for text in ax.texts if text.get_text() == "n/a"]
    assert len(marks) == 2
    for mark in marks:
        assert ax.get_window_extent().contains(*mark.get_points().mean(axis=0))
        assert not mark.overlaps(ax.get_legend().get_window_extent())


def test_learning_curves_of_a_joint_run_show_each_task_beside_the_mean() -> None:
    """The monitor of a joint run is the tasks' mean: alone, it hid a task that stopped improving."""
    epochs = pd.DataFrame({"epoch": [0, 1, 2], "train/loss": [2.0, 1.5, 1.2], "val/speaker/uar": [0.5, 0.6, 0.65],
                           "val/age/speaker/uar": [0.2, 0.3, 0.35], "val/gender/speaker/uar": [0.8, 0.9, 0.95]})
    fig = learning_figure(epochs, "val/speaker/uar", 2, "epoch_002.ckpt", ["age", "gender"])
    drawn = {line.get_label(): list(line.get_ydata()) for line in fig.axes[1].lines
             if not line.get_label().startswith("_")}
    assert drawn["val/age/speaker/uar"] == [0.2, 0.3, 0.35] and drawn["val/gender/speaker/uar"] == [0.8, 0.9, 0.95]
    assert drawn["val/speaker/uar"] == [0.5, 0.6, 0.65]
