"""experiment=voice_age_gender end to end: one network, per-task metrics, reports, eval, predict, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from sklearn.metrics import balanced_accuracy_score, confusion_matrix

from tests.helpers.config import JOINT, TASKS, VOICE_FAST, compose_cfg
from tests.helpers.voices import make_joint_corpus, tone
from voxray.checkpoint import load_run
from voxray.evaluate import evaluate
from voxray.evaluation.speakers import speaker_report
from voxray.export import export
from voxray.predict import predict
from voxray.train import train


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One joint training run (2 epochs) on a corpus where 12 of 45 clips have a gender but no age."""
    root = tmp_path_factory.mktemp("joint")
    corpus = make_joint_corpus(root / "cv")
    metrics = train(compose_cfg("train", root / "run", root / "cache", [f"data.root={corpus}", *JOINT]))
    return root, metrics


def test_each_task_is_logged_and_val_uar_is_their_mean(run: tuple[Path, dict]) -> None:
    root, metrics = run
    epochs = pd.read_csv(root / "run" / "csv" / "metrics.csv").dropna(subset=["val/uar"])
    assert len(epochs) == 2
    for name in ("uar", "speaker/uar", "speaker/clip_uar"):  # the last is the checkpoint monitor
        mean = (epochs[f"val/age/{name}"] + epochs[f"val/gender/{name}"]) / 2
        np.testing.assert_allclose(epochs[f"val/{name}"], mean, rtol=1e-6)
    assert {"val/age/recall/twenties", "val/gender/recall/female", "val/age/n_examples", "val/loss"} <= set(epochs)
    assert metrics["test/uar"] == pytest.approx((metrics["test/age/uar"] + metrics["test/gender/uar"]) / 2)
    # clips without an age are evaluated for gender only
    assert metrics["test/age/n_examples"] < metrics["test/gender/n_examples"] <= metrics["test/n_examples"]
    ckpt = torch.load(next((root / "run" / "checkpoints").glob("epoch_*.ckpt")), weights_only=True)
    assert ckpt["voxray"]["class_names"] == TASKS


def speakers_per_class(predictions: pd.DataFrame, task: str, classes: list[str]) -> dict[str, int]:
    """{class: test speakers with clips labelled with it} of one task."""
    speakers = predictions[predictions[f"label/{task}"] != ""].groupby(f"label/{task}")["speaker"].nunique()
    return {c: int(speakers.get(c, 0)) for c in classes}


def assert_interval(report: dict, name: str, counts: dict[str, int]) -> None:
    """`name`'s interval holds its value, or is undefined exactly where a class present has one speaker."""
    key = name.rsplit("/", 1)[-1]
    lonely = {c: n for c, n in counts.items() if n == 1}
    ci = report[f"{name}_ci95"]
    if lonely:
        assert ci is None and report[f"{name.removesuffix(key)}ci_undefined"][key] == lonely, name
    else:
        assert ci[0] <= report[name] <= ci[1], name


def test_metrics_json_equals_a_recomputation_from_test_predictions(run: tuple[Path, dict]) -> None:
    root, _ = run
    report = json.loads((root / "run" / "metrics.json").read_text())
    predictions = pd.read_csv(root / "run" / "test_predictions.csv", keep_default_na=False)
    assert report["class_names"] == TASKS and len(predictions) == report["test/n_examples"]
    # the headline, the mean over tasks, has its own interval at both levels (speakers drawn once for both
    # tasks), undefined where a class of a task has a single test speaker
    speakers = {f"{task}/{c}": int(n) for task, classes in TASKS.items()
                for c, n in speakers_per_class(predictions, task, classes).items()}
    assert report["test/groups_per_class"] == speakers
    assert_interval(report, "test/uar", speakers)
    assert report["test/n_groups"] == predictions["speaker"].nunique()
    people = report["test/speaker"]
    assert people["uar"] == pytest.approx(report["test/speaker/uar"], abs=1e-6)
    assert_interval(people, "uar", people["groups_per_class"])
    assert people["n_speakers"] == predictions["speaker"].nunique()
    for task, classes in TASKS.items():
        rows = predictions[predictions[f"label/{task}"] != ""]
        labels, preds = rows[f"label/{task}"], rows[f"pred/{task}"]
        block = {k.removeprefix(f"test/{task}/"): v for k, v in report.items() if k.startswith(f"test/{task}/")}
        assert block["n_examples"] == len(rows)
        assert block["uar"] == pytest.approx(balanced_accuracy_score(labels, preds))
        assert block["confmat"] == confusion_matrix(labels, preds, labels=classes).tolist()
        assert block["groups_per_class"] == speakers_per_class(predictions, task, classes)
        assert_interval(block, "uar", block["groups_per_class"])
        assert block["n_groups"] == rows["speaker"].nunique()
        # one decision per speaker, from the probabilities written per clip
        probs = torch.tensor(rows[[f"prob/{task}/{c}" for c in classes]].to_numpy(dtype=np.float32))
        targets = torch.tensor(labels.map(classes.index).to_numpy())
        people = speaker_report(probs, targets, rows["speaker"].to_numpy(), classes, n_boot=50)
        assert block["speaker"]["uar"] == pytest.approx(people["uar"], abs=1e-6)
        assert (block["speaker"]["confmat"] == people["confmat"]
                and block["speaker"]["n_speakers"] == len(set(rows["speaker"])))
        assert (root / "run" / f"confusion_matrix_test_{task}.png").stat().st_size > 5000
        assert np.allclose(rows[[f"prob/{task}/{c}" for c in classes]].sum(axis=1), 1, atol=1e-5)


def test_eval_reproduces_the_tested_checkpoint(run: tuple[Path, dict]) -> None:
    root, metrics = run
    ckpt = next((root / "run" / "checkpoints").glob("epoch_*.ckpt"))
    result = evaluate(compose_cfg("eval", root / "eval", root / "cache", [f"ckpt_path={ckpt}", "trainer=cpu"]))
    for name in ("test/uar", "test/age/uar", "test/gender/uar", "test/age/speaker/uar"):
        assert result[name] == pytest.approx(metrics[name], abs=1e-6), name
    pd.testing.assert_frame_equal(pd.read_csv(root / "eval" / "test_predictions.csv"),
                                  pd.read_csv(root / "run" / "test_predictions.csv"), atol=1e-6)


def test_predict_gives_age_and_gender_for_each_file(run: tuple[Path, dict], tmp_path: Path) -> None:
    root, _ = run
    sf.write(tmp_path / "a.wav", tone(120.0, 2.0, sr=44100), 44100)
    sf.write(tmp_path / "b.wav", tone(230.0, 2.5), 16000)
    cfg = compose_cfg("predict", tmp_path / "out", root / "cache",
                      [f"ckpt_path={root / 'run' / 'checkpoints' / 'last.ckpt'}", f"inputs=[{tmp_path}]", "device=cpu"])
    table = predict(cfg)
    assert len(table) == 2 and (table["error"] == "").all()
    for task, classes in TASKS.items():
        assert table[f"predicted_{task}"].isin(classes).all()
        probs = table[[f"p_{task}_{c}" for c in classes]]
        np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
        assert (table[f"predicted_{task}"] == probs.idxmax(axis=1).str.removeprefix(f"p_{task}_")).all()


def test_export_says_which_logits_belong_to_which_task(run: tuple[Path, dict], tmp_path: Path) -> None:
    import onnxruntime as ort

    from voxray.checkpoint import build_model

    root, _ = run
    ckpt = root / "run" / "checkpoints" / "last.ckpt"
    path = export(compose_cfg("export", tmp_path / "out", root / "cache", [f"ckpt_path={ckpt}"]))
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    assert meta["tasks"] == {"age": {"classes": TASKS["age"], "logits": [0, 6]},
                             "gender": {"classes": TASKS["gender"], "logits": [6, 8]}}
    wave = torch.from_numpy((tone(150.0, 2.5)[:48000] * 20000).astype("int16"))[None].repeat(2, 1)
    logits = torch.from_numpy(ort.InferenceSession(str(path)).run(None, {"input": wave.numpy()})[0])  # (2, 8)
    model = build_model(*load_run(ckpt)).eval()
    with torch.inference_mode():
        want = model.tasks.probs(model(wave))
    for task in meta["tasks"].values():
        start, stop = task["logits"]
        torch.testing.assert_close(logits[:, start:stop].softmax(dim=1), want[:, start:stop], atol=1e-4, rtol=1e-4)


@pytest.mark.slow  # 8 epochs on 160 embedded speakers, as the gender-only test in test_train_voice.py
def test_the_joint_model_learns_gender_on_the_embedded_corpus(tmp_path: Path) -> None:
    metrics = train(compose_cfg("train", tmp_path / "run", tmp_path / "cache",
                                ["experiment=voice_age_gender", "trainer.max_epochs=8", *VOICE_FAST]))
    print(f"voice_age_gender: test/gender/uar={metrics['test/gender/uar']:.3f} "
          f"test/age/uar={metrics['test/age/uar']:.3f} "
          f"test/gender/speaker/uar={metrics['test/gender/speaker/uar']:.3f}")
    report = json.loads((tmp_path / "run" / "data_report.json").read_text())
    assert report["missing"]["age"]["blank"] > 0, "the embedded corpus's clips without an age are trained on"
    # measured: gender 0.873 (0.929 per speaker), against 0.84 for the gender-only test; age 0.128, not
    # yet learnt in 8 epochs (the age-only slow test needs 25): 16 min on 2 cores at load 9, with the corpus build
    assert metrics["test/gender/uar"] >= 0.75  # the bar of the gender-only test on the same corpus


def test_a_list_of_targets_without_classes_per_target_is_a_one_line_error(tmp_path: Path) -> None:
    from voxray.cli.checks import check_train
    from voxray.errors import UserError

    cfg = compose_cfg("train", tmp_path / "run", tmp_path / "cache", ["data.target=[age,gender]"])
    with pytest.raises(UserError, match=r"data.target=\['age', 'gender'\] needs data.classes per target.*"
                                        r"experiment=voice_age_gender"):
        check_train(cfg)
    check_train(compose_cfg("train", tmp_path / "run", tmp_path / "cache", ["experiment=voice_age_gender"]))
