"""Prediction from Python: `Predictor` turns files into the network's answer on them exactly as the
training cache held them, and the onnxruntime example gives the same answer from model.json."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra.utils import instantiate

from examples.onnx_predict import onnx_predict
from tests.helpers.config import VOICE_TINY, compose_cfg
from voxray import Predictor
from voxray.checkpoint import build_model, load_run
from voxray.export import export
from voxray.train import train

TINY = [*VOICE_TINY, "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, official_corpus_module: Path) -> tuple[Path, tuple]:
    """A tiny voice run's best checkpoint and four of its training clips with their cache rows."""
    out = tmp_path_factory.mktemp("voice_run")
    train(compose_cfg("train", out, out / "cache", [f"data.root={official_corpus_module}", *TINY]))
    ckpt = out / "checkpoints" / "best.ckpt"
    datamodule = instantiate(load_run(ckpt)[1].data, report_dir=None)
    datamodule.setup("fit")
    return ckpt, (datamodule, datamodule.table.sample(4, random_state=0))


def test_a_predictor_gives_the_network_output_on_the_cached_training_rows(run: tuple[Path, tuple]) -> None:
    ckpt, (datamodule, rows) = run
    predictor = Predictor.from_checkpoint(ckpt, device="cpu")
    table = predictor.predict([*rows["path"], "missing.mp3"])
    assert table["error"].iloc[:4].eq("").all() and "not found" in table["error"].iloc[4]
    model = build_model(*load_run(ckpt)).eval()
    with torch.inference_mode():
        want = model.tasks.probs(model(torch.from_numpy(np.stack([datamodule.data[r] for r in rows["row"]]))))
    np.testing.assert_allclose(table[predictor.columns].iloc[:4].to_numpy(), want.numpy(), atol=1e-6)
    assert table["predicted"].iloc[:4].tolist() == [model.class_names[i] for i in want.argmax(1)]


def test_the_onnx_example_predicts_as_the_predictor(run: tuple[Path, tuple], tmp_path: Path) -> None:
    ckpt, (_, rows) = run
    export(compose_cfg("export", tmp_path / "export", tmp_path / "cache", [f"ckpt_path={ckpt}"]))
    files = list(rows["path"])
    got = pd.DataFrame(onnx_predict(tmp_path / "export" / "model.json", files))
    want = Predictor.from_checkpoint(ckpt, device="cpu").predict(files)
    columns = [c for c in want.columns if c.startswith("p_")]
    np.testing.assert_allclose(got[columns].to_numpy(), want[columns].to_numpy(), atol=1e-4)
    assert got["predicted"].tolist() == want["predicted"].tolist()
