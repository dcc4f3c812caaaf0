"""The X-ray path in seconds: fine-tune, threshold, eval / predict / export offline, overfit preset."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from PIL import Image

from examples.onnx_predict import onnx_predict
from tests.helpers.config import XRAY_FAST, compose_cfg, pretrained_file
from tests.helpers.probes import read_probe
from voxray.errors import UserError
from voxray.evaluate import evaluate
from voxray.evaluation.decision import decide
from voxray.export import export
from voxray.predict import predict
from voxray.train import train


@pytest.fixture(scope="module")
def xray_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Two epochs (head only, then the whole network) from a weights file that is then deleted."""
    tmp = tmp_path_factory.mktemp("xray")
    weights = pretrained_file(tmp)
    metrics = train(compose_cfg("train", tmp / "run", tmp / "cache",
                                [*XRAY_FAST, f"model.net.weights={weights}", "trainer.max_epochs=2",
                                 "+callbacks.probe._target_=tests.helpers.probes.EpochProbe",
                                 f"+callbacks.probe.path={tmp / 'epochs.jsonl'}"]))
    weights.unlink()  # eval, predict and export must not need the weights the run started from
    return tmp, metrics


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_threshold_travels_from_validation_to_checkpoint_metrics_predict_and_export(
    xray_run: tuple[Path, dict], no_network: None
) -> None:
    tmp, metrics = xray_run
    saved = json.loads((tmp / "run" / "metrics.json").read_text())
    ckpt_path = Path(saved["checkpoint"])
    threshold = torch.load(ckpt_path, weights_only=True)["voxray"]["threshold"]
    assert saved["test/at_threshold"]["threshold"] == threshold == pytest.approx(metrics["test/at_threshold/threshold"])
    assert saved["test/at_threshold"]["n_groups"] <= saved["test/n_examples"]
    assert (tmp / "run" / "confusion_matrix_test_at_threshold.png").stat().st_size > 5000

    result = evaluate(compose_cfg("eval", tmp / "eval", tmp / "cache", [f"ckpt_path={ckpt_path}", "trainer=cpu"]))
    assert result["test/at_threshold"]["threshold"] == threshold
    assert result["test/auroc"] == pytest.approx(saved["test/auroc"], abs=1e-6)

    films = sorted((tmp / "cache").glob("synthetic-xray-*/chest_xray/test/*/*.jpeg"))[:6]
    table = predict(compose_cfg("predict", tmp / "predict", tmp / "cache",
                                [f"ckpt_path={ckpt_path}", f"inputs=[{','.join(map(str, films))}]", "device=cpu"]))
    assert len(table) == 6 and (table["error"] == "").all() and (table["threshold"] == threshold).all()
    assert table["is_pneumonia"].tolist() == decide(torch.tensor(table["p_pneumonia"].to_numpy()), threshold).tolist()

    export(compose_cfg("export", tmp / "export", tmp / "cache", [f"ckpt_path={ckpt_path}"]))
    meta = json.loads((tmp / "export" / "model.json").read_text())
    assert meta["threshold"] == threshold and ">=" in meta["decision_rule"]
    assert meta["preparation"]["image_size"] == 32 and meta["preparation"]["letterbox"]
    assert sorted(p.name for p in (tmp / "export").iterdir()) == ["model.json", "model.onnx"], "one self-contained file"
    # the documented onnxruntime example prepares and decides as predict.py does
    rows = pd.DataFrame(onnx_predict(tmp / "export" / "model.json", [str(f) for f in films]))
    np.testing.assert_allclose(rows["p_pneumonia"], table["p_pneumonia"], atol=1e-4)
    assert rows["is_pneumonia"].tolist() == table["is_pneumonia"].tolist()
    assert rows["predicted"].tolist() == table["predicted"].tolist()


def test_head_trains_first_then_the_whole_network(xray_run: tuple[Path, dict]) -> None:
    tmp, _ = xray_run
    (e0, e1) = read_probe(tmp / "epochs.jsonl")
    model = timm.create_model("test_resnet", num_classes=2, in_chans=1)
    assert e0["trainable"] == len(list(model.get_classifier().parameters())), "epoch 0: the head alone"
    assert e1["trainable"] == len(list(model.parameters())), "epoch 1: the whole network"
    assert len(e0["lrs"]) == 1 and e1["lrs"][1] == pytest.approx(0.1 * e1["lrs"][0])


def test_overfit_preset_drives_the_xray_training_loss_down(tmp_path: Path) -> None:
    train(compose_cfg("train", tmp_path / "run", tmp_path / "cache",
                      [*XRAY_FAST, "debug=overfit", "model.net.pretrained=false", "trainer.max_epochs=12",
                       "model.optimizer.lr=0.01", "test=false"]))
    loss = pd.read_csv(tmp_path / "run" / "csv" / "metrics.csv")["train/loss"].dropna().to_numpy()
    assert loss[-1] < 0.5 * loss[0]


def kermany_folder(root: Path, normal: int, pneumonia: int) -> Path:
    """A new user's first data: a Kermany chest_xray folder of tiny films, one patient each."""
    rng = np.random.default_rng(0)
    for split, (n_normal, n_pneumonia) in (("train", (normal, pneumonia)), ("test", (2, 2))):
        names = [f"NORMAL/IM-{i:04d}-0001.jpeg" for i in range(n_normal)]
        names += [f"PNEUMONIA/person{i}_bacteria_{i}.jpeg" for i in range(n_pneumonia)]
        for name in names:
            path = root / "chest_xray" / split / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (40, 36), dtype=np.uint8)).save(path)
    return root


def test_a_validation_split_of_one_class_stops_before_training(tmp_path: Path) -> None:
    """16 films, 2 normal: validation (a tenth, patient-disjoint; a class of under three patients
    keeps them all for training) gets one pneumonia film and no normal one, so no threshold can be
    chosen on it; the run says so before its first epoch."""
    root = kermany_folder(tmp_path / "data", normal=2, pneumonia=14)
    common = [o for o in XRAY_FAST if not o.startswith("data.val_fraction=")]
    common += [f"data.root={root}", "data.val_fraction=0.1", "model.net.pretrained=false", "trainer.max_epochs=1"]
    says = ("the validation split holds 0 normal, 1 pneumonia: the screening threshold is chosen on validation "
            "and needs both classes; raise data.val_fraction (now 0.1), add data, or set the threshold "
            "yourself with model.decision.threshold=0.5")
    with pytest.raises(UserError, match=re.escape(says)):
        train(compose_cfg("train", tmp_path / "run", tmp_path / "cache", common))
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "epochs.csv").exists()
    report = json.loads((tmp_path / "run" / "data_report.json").read_text())
    assert report["per_class"]["val"] == {"normal": 0, "pneumonia": 1}

    train(compose_cfg("train", tmp_path / "fixed", tmp_path / "cache", [*common, "model.decision.threshold=0.3"]))
    at = json.loads((tmp_path / "fixed" / "metrics.json").read_text())["test/at_threshold"]
    assert at["threshold"] == pytest.approx(0.3) and at["threshold_from"] == "set by model.decision.threshold"
