"""Streamed runs (`data.stream=true`): a voice run from an S3-compatible server on 127.0.0.1 resumes
exactly (2 epochs + resume for 1 equal 3 uninterrupted, and so does a resume from a checkpoint taken
mid-epoch: the stream's position is in the checkpoint); the X-ray path learns from a stream."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import torch

from tests.helpers.config import VOICE_TINY, XRAY_FAST, compose_cfg
from tests.helpers.s3 import local_s3
from tests.helpers.voices import make_official_corpus
from voxray.train import train

STEPS_PER_EPOCH = 3  # 15 training clips in batches of 4, the short batch dropped


def overrides(tmp: Path, root: Path, s3: dict, run: str) -> list[str]:
    return [*(o for o in VOICE_TINY if not o.startswith("data.num_workers=")),  # the default workers
            f"data.root={root}", "data.batch_size=4", "data.stream=true", f"data.stream_uri={s3['uri']}/views",
            f"+data.stream_options.endpoint_url={s3['options']['endpoint_url']}", "trainer.max_epochs=3",
            "train=true", "test=false", "callbacks.early_stopping=null",
            "+callbacks.mid._target_=lightning.pytorch.callbacks.ModelCheckpoint",
            f"+callbacks.mid.dirpath={tmp / run / 'checkpoints'}", "+callbacks.mid.filename='mid-{step}'",
            "+callbacks.mid.every_n_train_steps=1", "+callbacks.mid.save_top_k=-1",
            "+callbacks.mid.save_on_train_epoch_end=false"]


def launch(tmp: Path, name: str, args: list[str], cache: Path) -> None:
    train(compose_cfg("train", tmp / name, cache, args))


def state(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def test_a_streamed_run_resumes_at_an_epoch_end_and_mid_epoch(tmp_path: Path) -> None:
    root, cache = make_official_corpus(tmp_path / "cv"), tmp_path / "cache"
    with local_s3() as s3:
        launch(tmp_path, "whole", overrides(tmp_path, root, s3, "whole"), cache)
        part = [*overrides(tmp_path, root, s3, "part"), "+callbacks.probe._target_=tests.helpers.probes.EpochProbe",
                f"+callbacks.probe.path={tmp_path / 'probe.jsonl'}", "+callbacks.probe.stop_after=2"]
        launch(tmp_path, "part", part, cache)
        checkpoints = tmp_path / "part" / "checkpoints"
        mid = checkpoints / f"mid-step={STEPS_PER_EPOCH + 2}.ckpt"  # the second batch of the second epoch
        assert state(mid)["global_step"] == STEPS_PER_EPOCH + 2
        shutil.copytree(tmp_path / "part", tmp_path / "part_mid")
        end = [*overrides(tmp_path, root, s3, "part"), f"ckpt_path={checkpoints / 'last.ckpt'}"]
        launch(tmp_path, "resume_end", end, cache)
        launch(tmp_path, "resume_mid", [*overrides(tmp_path, root, s3, "part_mid"),
                                        f"ckpt_path='{tmp_path / 'part_mid' / 'checkpoints' / mid.name}'"], cache)
    whole = state(tmp_path / "whole" / "checkpoints" / "last.ckpt")
    assert whole["global_step"] == 3 * STEPS_PER_EPOCH
    for resumed in ("part", "part_mid"):
        end = state(tmp_path / resumed / "checkpoints" / "last.ckpt")
        assert (end["epoch"], end["global_step"]) == (whole["epoch"], whole["global_step"]), resumed
        for name, tensor in whole["state_dict"].items():
            torch.testing.assert_close(end["state_dict"][name], tensor, rtol=1e-5, atol=1e-6, msg=f"{resumed}: {name}")


def test_the_xray_path_learns_from_a_stream_and_tests_every_film_once(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(compose_cfg("train", run, tmp_path / "cache", [
        *(o for o in XRAY_FAST if not o.startswith("data.num_workers=")), "data.stream=true",
        "model.net.pretrained=false", "trainer.max_epochs=4", "model.optimizer.lr=0.01",
        "callbacks.early_stopping=null"]))
    epochs = pd.read_csv(run / "csv" / "metrics.csv").groupby("epoch")["train/loss"].mean().dropna()
    assert epochs.iloc[-1] < 0.75 * epochs.iloc[0], f"the training loss by epoch: {epochs.round(3).tolist()}"
    metrics, report = (json.loads((run / name).read_text()) for name in ("metrics.json", "data_report.json"))
    assert metrics["test/n_examples"] == report["rows"]["test"], "each test film counted exactly once"
