"""The everyday workflow around a trained model: sweeps, prediction, ONNX export, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from hydra.utils import instantiate

from tests.helpers.config import ROOT, VOICE_TINY, compose_cfg
from tests.helpers.voices import tone
from voxray.checkpoint import load_run
from voxray.export import export
from voxray.predict import file_loader, predict, prepare_inputs
from voxray.train import train

TINY = [*VOICE_TINY, "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1"]


def run_script(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VOXRAY_ROOT": str(cwd), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(ROOT / args[0]), *args[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def voice_ckpt(tmp_path_factory: pytest.TempPathFactory, official_corpus_module: Path) -> Path:
    out = tmp_path_factory.mktemp("voice_run")
    train(compose_cfg("train", out, out / "cache", [f"data.root={official_corpus_module}", *TINY]))
    return out / "checkpoints" / "last.ckpt"


def test_grid_multirun_and_optuna_sweep_write_summaries(tmp_path: Path, official_corpus_module: Path) -> None:
    common = [f"data.root={official_corpus_module}", f"paths.cache_dir={tmp_path / 'cache'}", *TINY]
    run_script(["train.py", "-m", "model.optimizer.lr=0.001,0.0003", f"hydra.sweep.dir={tmp_path / 'grid'}", *common],
               tmp_path)
    grid = pd.read_csv(tmp_path / "grid" / "summary.csv")
    assert grid["job"].tolist() == [0, 1] and (grid["status"] == "done").all()
    assert grid["overrides"].str.contains("model.optimizer.lr=0.0003").sum() == 1
    assert (tmp_path / "grid" / "1" / "checkpoints" / "last.ckpt").exists(), "each job has its own folder"

    run_script(["train.py", "-m", "hparams_search=voice_optuna", "hydra.sweeper.n_trials=2",
                f"hydra.sweep.dir={tmp_path / 'optuna'}", *common], tmp_path)
    trials = pd.read_csv(tmp_path / "optuna" / "summary.csv")
    assert len(trials) == 2 and trials["val/uar"].notna().all()
    best = (tmp_path / "optuna" / "best_config.yaml").read_text()
    assert f"val/uar: {trials['val/uar'].max()}" in best
    assert (tmp_path / "optuna" / "optimization_results.yaml").exists()


def test_predict_prepares_a_file_exactly_as_its_cached_training_row(tmp_path: Path, voice_ckpt: Path) -> None:
    _, run_cfg = load_run(voice_ckpt)
    datamodule = instantiate(run_cfg.data, report_dir=None)
    datamodule.setup("fit")
    rows = datamodule.table.sample(3, random_state=0)
    prepared = prepare_inputs([Path(p) for p in rows["path"]], file_loader(run_cfg.data))
    for (array, error), row in zip(prepared, rows["row"]):
        assert error == ""
        np.testing.assert_array_equal(array, datamodule.data[row])


def test_voice_cache_key_carries_the_preparation_version(tmp_path: Path, voice_ckpt: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _, run_cfg = load_run(voice_ckpt)
    folder = lambda: instantiate(run_cfg.data, report_dir=None)._prepare().folder  # noqa: E731
    before = folder()
    monkeypatch.setattr("voxray.data.voice.datamodule.CLIP_PREPARATION", "load_clip-changed")
    assert folder() != before, "changed preparation code must not reuse the old cache"


def test_predict_reports_bad_files(tmp_path: Path, voice_ckpt: Path) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    sf.write(folder / "a.wav", tone(120.0, 2.0, sr=44100), 44100)
    sf.write(folder / "b.mp3", tone(230.0, 2.5), 16000, format="MP3")
    (folder / "broken.mp3").write_bytes(b"\x00" * 100)
    cfg = compose_cfg("predict", tmp_path / "out", tmp_path / "cache",
                      [f"ckpt_path={voice_ckpt}", f"inputs=[{folder},{tmp_path / 'missing.wav'}]", "device=cpu"])
    table = predict(cfg)
    assert len(table) == 4
    errors = dict(zip(table["path"].map(lambda p: Path(p).name), table["error"]))
    assert errors["a.wav"] == errors["b.mp3"] == ""
    assert "not decodable as audio" in errors["broken.mp3"] and "not found" in errors["missing.wav"]
    probs = table.filter(like="p_").dropna()
    assert len(probs) == 2 and ((probs.sum(axis=1) - 1).abs() < 1e-5).all()
    assert json.loads((tmp_path / "out" / "predictions.json").read_text())[0]["path"].endswith("a.wav")


def test_onnx_export_matches_pytorch(tmp_path: Path, voice_ckpt: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = compose_cfg("export", tmp_path / "out", tmp_path / "cache", [f"ckpt_path={voice_ckpt}"])
    with caplog.at_level("INFO"):
        path = export(cfg)
    noise = [r.getMessage() for r in caplog.records if r.name.startswith(("onnxscript", "onnx_ir"))]
    assert not noise, f"{len(noise)} INFO lines of the ONNX optimiser, e.g. {noise[:2]}"
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    assert meta["onnxruntime_max_abs_diff"] < 1e-3 and meta["input"]["dtype"] == "int16"
    assert meta["preparation"]["sample_rate"] == 16000 and meta["preparation"]["clip_seconds"] == 3.0
    import onnxruntime as ort

    from voxray.checkpoint import build_model

    model = build_model(*load_run(voice_ckpt)).eval()
    # model.json tells an ONNX user what the graph does to the int16 clip, so they do not do it twice
    assert meta["preparation"]["in_graph"] == [*model.frontend.describe(), "the network (MelCNN) to logits"]
    wave = torch.from_numpy((tone(150.0, 2.5)[:48000] * 20000).astype("int16"))[None].repeat(3, 1)
    wave[1, 20000:], wave[2] = 0, 0  # 1.25 s of speech, then padding; a silent clip
    got = ort.InferenceSession(str(path)).run(None, {"input": wave.numpy()})[0]
    with torch.inference_mode():
        torch.testing.assert_close(torch.from_numpy(got), model(wave), atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("experiment, search, metric", [
    ("voice_mel", "voice_optuna", "val/speaker/clip_uar"), ("voice_gender", "voice_optuna", "val/speaker/clip_uar"),
    ("voice_age_gender", "voice_optuna", "val/speaker/clip_uar"), ("voice_ssl", "voice_optuna", "val/speaker/clip_uar"),
    ("xray_pneumonia", "xray_optuna", "val/auroc"),
])
def test_a_sweep_maximises_what_the_experiment_monitors(tmp_path: Path, experiment: str, search: str,
                                                       metric: str) -> None:
    """The search must not swap the experiment's metric (voice: speakers, not the clips of a few)."""
    cfg = compose_cfg("train", tmp_path, tmp_path, [f"experiment={experiment}", f"hparams_search={search}"])
    assert cfg.optimized_metric == metric
    assert cfg.callbacks.model_checkpoint.monitor == cfg.callbacks.early_stopping.monitor == metric


def test_ddp_config_composes(tmp_path: Path) -> None:
    cfg = compose_cfg("train", tmp_path, tmp_path, ["experiment=voice_mel", "trainer=ddp", "trainer.devices=2"])
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.sync_batchnorm  # precision: tests/cli/test_precision.py


@pytest.mark.slow
@pytest.mark.parametrize("reader", [[], ["data.stream=true", "data.batch_size=4"]], ids=["random access", "stream"])
def test_ddp_on_two_cpu_processes(tmp_path: Path, official_corpus_module: Path, reader: list[str]) -> None:
    run_script(["train.py", f"data.root={official_corpus_module}", f"paths.cache_dir={tmp_path / 'cache'}", *TINY,
                *reader, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.precision=32-true",
                "trainer.sync_batchnorm=false", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    report = json.loads((tmp_path / "run" / "data_report.json").read_text())
    seen = sum(map(sum, metrics["test/confmat"]))
    assert seen == metrics["test/n_examples"] == report["rows"]["test"], "each test clip counted exactly once"
    assert metrics["test/n_groups"] == report["speakers"]["test"]
    counts = torch.tensor([report["per_class"]["train"].get(c, 0) for c in ckpt["voxray"]["class_names"]],
                          dtype=torch.float32)
    expected = torch.where(counts > 0, counts.sum() / (len(counts) * counts.clamp(min=1)), torch.zeros(()))
    torch.testing.assert_close(ckpt["state_dict"]["class_weights"], expected)
