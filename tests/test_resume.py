"""A resumed run is the same run: 2 epochs + resume for 2 equals 4 epochs uninterrupted."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from voxray.train import train
from tests.helpers import VOICE_TINY, XRAY_FAST, compose_cfg, pretrained_file
from tests.probes import read_probe

COMMON = ["trainer.max_epochs=4", "train=true", "test=false", "callbacks.early_stopping.patience=10"]
VOICE = [*VOICE_TINY, "+trainer.limit_train_batches=2"]


def run(tmp: Path, name: str, overrides: list[str], cache: Path, **extra: str) -> Path:
    out = tmp / name
    args = [*overrides, "+callbacks.probe._target_=tests.probes.EpochProbe", f"+callbacks.probe.path={tmp / (name + '.jsonl')}"]
    args += [f"{k}={v}" for k, v in extra.items()]
    train(compose_cfg("train", out, cache, args))
    return out


def checkpoint_state(path: Path) -> dict:
    ckpt = torch.load(path, weights_only=True)
    best = next(v for k, v in ckpt["callbacks"].items() if k.startswith("RunCheckpoint"))
    return {"ckpt": ckpt, "best_path": Path(best["best_model_path"]).name, "best_score": best["best_model_score"]}


@pytest.mark.parametrize("task", ["voice", "xray"])
def test_resumed_run_equals_uninterrupted_run(tmp_path: Path, task: str, official_corpus: Path) -> None:
    overrides = COMMON + (VOICE + [f"data.root={official_corpus}"] if task == "voice"
                          else XRAY_FAST + [f"model.net.weights={pretrained_file(tmp_path)}"])
    cache = tmp_path / "cache"
    whole = run(tmp_path, "whole", overrides, cache)
    part = run(tmp_path, "part", overrides, cache, **{"+callbacks.probe.stop_after": "2"})

    first = checkpoint_state(part / "checkpoints" / "last.ckpt")
    assert first["ckpt"]["epoch"] == 1, "last.ckpt holds the last completed epoch, not the best one"
    steps_per_epoch = checkpoint_state(whole / "checkpoints" / "last.ckpt")["ckpt"]["global_step"] // 4
    assert first["ckpt"]["global_step"] == 2 * steps_per_epoch

    resumed_launch = tmp_path / "resume_launch"
    train(compose_cfg("train", resumed_launch, cache, [
        *overrides, f"ckpt_path={part / 'checkpoints' / 'last.ckpt'}",
        "+callbacks.probe._target_=tests.probes.EpochProbe", f"+callbacks.probe.path={tmp_path / 'part.jsonl'}"]))
    assert not (resumed_launch / "checkpoints").exists(), "the resumed run writes into its original folder"

    assert read_probe(tmp_path / "part.jsonl") == read_probe(tmp_path / "whole.jsonl")  # trainable set, lrs
    a, b = checkpoint_state(whole / "checkpoints" / "last.ckpt"), checkpoint_state(part / "checkpoints" / "last.ckpt")
    assert b["ckpt"]["epoch"] == 3 and b["ckpt"]["global_step"] == a["ckpt"]["global_step"]
    assert (b["best_path"], float(b["best_score"])) == (a["best_path"], pytest.approx(float(a["best_score"])))
    best_a, best_b = (torch.load(run / "checkpoints" / "best.ckpt", weights_only=True) for run in (whole, part))
    assert best_b["epoch"] == best_a["epoch"], "best.ckpt survives the resume and follows the run's best"
    for name, tensor in best_a["state_dict"].items():
        torch.testing.assert_close(best_b["state_dict"][name], tensor, rtol=1e-5, atol=1e-6, msg=name)
    for name, tensor in a["ckpt"]["state_dict"].items():
        torch.testing.assert_close(b["ckpt"]["state_dict"][name], tensor, rtol=1e-5, atol=1e-6, msg=name)
    opt_a, opt_b = a["ckpt"]["optimizer_states"][0], b["ckpt"]["optimizer_states"][0]
    assert [g["lr"] for g in opt_b["param_groups"]] == pytest.approx([g["lr"] for g in opt_a["param_groups"]])
    for key, state in opt_a["state"].items():
        for name, value in state.items():
            torch.testing.assert_close(opt_b["state"][key][name], value, rtol=1e-5, atol=1e-6)
    assert b["ckpt"]["lr_schedulers"] == a["ckpt"]["lr_schedulers"]
