"""A checkpoint written by an earlier layout of the package still evaluates, predicts and exports.

A checkpoint stores the run's resolved config, and eval, predict and export rebuild the model and the
data from its `_target_`s (`voxray.models.classifier.Classifier`, `voxray.data.voice.VoiceDataModule`,
the front ends, `voxray.models.mel_cnn.MelCNN`): module paths that must keep working. The fixture and
the figures below come from commit 26baa76 (tests/fixtures/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

from tests.helpers.config import ROOT, compose_cfg
from tests.helpers.voices import tone
from voxray.evaluate import evaluate
from voxray.export import export
from voxray.predict import predict

CKPT = ROOT / "tests" / "fixtures" / "voice_tiny_26baa76.ckpt"
AGES = ["teens", "twenties", "thirties", "fourties", "fifties", "sixties+"]
# what the code that wrote the checkpoint computed from it on the test corpus (tests.helpers.voices: 12 speakers)
TEST_LOSS, TEST_UAR = 1.7306362390518188, 0.25
PROBS = {"a.wav": [0.16721932590007782, 0.15797443687915802, 0.19250328838825226, 0.16522809863090515,
                   0.15748368203639984, 0.1595911830663681],
         "b.wav": [0.1710142195224762, 0.15425243973731995, 0.17018301784992218, 0.1823759526014328,
                   0.16624370217323303, 0.15593062341213226]}


def test_an_old_checkpoint_evaluates_as_it_did(tmp_path: Path, official_corpus: Path) -> None:
    cfg = compose_cfg("eval", tmp_path / "eval", tmp_path / "cache",
                      [f"ckpt_path={CKPT}", f"+data.root={official_corpus}", "trainer=cpu"])
    metrics = evaluate(cfg)
    assert metrics["test/uar"] == TEST_UAR and metrics["test/loss"] == pytest.approx(TEST_LOSS, rel=1e-5)
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["class_names"] == AGES
    assert (tmp_path / "eval" / "report.html").is_file()


def test_an_old_checkpoint_predicts_as_it_did(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "a.wav", tone(120.0, 2.0), 16000)
    sf.write(tmp_path / "in" / "b.wav", tone(230.0, 2.5), 16000)
    cfg = compose_cfg("predict", tmp_path / "out", tmp_path / "cache",
                      [f"ckpt_path={CKPT}", f"inputs=[{tmp_path / 'in'}]", "device=cpu"])
    for _, row in predict(cfg).iterrows():
        name = Path(row["path"]).name
        assert row["error"] == "" and [row[f"p_{c}"] for c in AGES] == pytest.approx(PROBS[name], rel=1e-5)


def test_an_old_checkpoint_exports(tmp_path: Path) -> None:
    export(compose_cfg("export", tmp_path / "out", tmp_path / "cache", [f"ckpt_path={CKPT}"]))
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    assert meta["class_names"] == AGES and meta["onnxruntime_max_abs_diff"] < 1e-3
    assert meta["preparation"]["in_graph"][-1] == "the network (MelCNN) to logits"
    assert (tmp_path / "out" / "model.onnx").stat().st_size > 10_000
