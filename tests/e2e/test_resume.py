"""A resumed run is the same run: 2 epochs + resume for 2 equals 4 epochs uninterrupted, with the
loader's default workers, and from a run folder that was moved to another path."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from tests.helpers.config import VOICE_TINY, XRAY_FAST, compose_cfg, pretrained_file
from tests.helpers.probes import read_probe
from voxray.train import train


def default_workers(overrides: list[str]) -> list[str]:
    """The overrides without their `data.num_workers` pin: the loader keeps the config's workers,
    whose prefetching starts before Lightning sets the sampler's epoch."""
    return [o for o in overrides if not o.startswith("data.num_workers=")]


COMMON = ["trainer.max_epochs=4", "train=true", "test=false", "callbacks.early_stopping.patience=10"]
VOICE = [*default_workers(VOICE_TINY), "+trainer.limit_train_batches=2"]
XRAY = default_workers(XRAY_FAST)


def run(tmp: Path, name: str, overrides: list[str], cache: Path, **extra: str) -> Path:
    out = tmp / name
    args = [*overrides, "+callbacks.probe._target_=tests.helpers.probes.EpochProbe",
            f"+callbacks.probe.path={tmp / (name + '.jsonl')}"]
    args += [f"{k}={v}" for k, v in extra.items()]
    cfg = compose_cfg("train", out, cache, args)
    assert cfg.data.num_workers > 0, "the resume tests run with the loader's default workers"
    train(cfg)
    return out


@dataclass
class Runs:
    """An uninterrupted run (`whole`) and one stopped after 2 of its 4 epochs (`part`)."""

    tmp: Path
    overrides: list[str]
    cache: Path
    whole: Path
    part: Path

    def resume(self, ckpt: Path, probe: str, overrides: list[str] | None = None) -> Path:
        """Launch again with `ckpt_path=ckpt` (in its own Hydra folder, returned); the probe
        appends to `<probe>.jsonl`."""
        launch = self.tmp / f"{probe}_launch"
        train(compose_cfg("train", launch, self.cache, [
            *(overrides or self.overrides), f"ckpt_path={ckpt}",
            "+callbacks.probe._target_=tests.helpers.probes.EpochProbe",
            f"+callbacks.probe.path={self.tmp / (probe + '.jsonl')}"]))
        return launch


def whole_and_part(tmp: Path, overrides: list[str]) -> Runs:
    cache = tmp / "cache"
    whole = run(tmp, "whole", overrides, cache)
    part = run(tmp, "part", overrides, cache, **{"+callbacks.probe.stop_after": "2"})
    return Runs(tmp, overrides, cache, whole, part)


@pytest.fixture(scope="module")
def voice_runs(tmp_path_factory: pytest.TempPathFactory, official_corpus_module: Path) -> Runs:
    """Shared by the voice tests: `part_unresumed` is a copy of `part` made before any resume."""
    tmp = tmp_path_factory.mktemp("voice")
    runs = whole_and_part(tmp, COMMON + VOICE + [f"data.root={official_corpus_module}"])
    shutil.copytree(runs.part, tmp / "part_unresumed")
    return runs


@pytest.fixture
def xray_runs(tmp_path: Path) -> Runs:
    return whole_and_part(tmp_path, COMMON + XRAY + [f"model.net.weights={pretrained_file(tmp_path)}"])


def checkpoint_state(path: Path) -> dict:
    ckpt = torch.load(path, weights_only=True)
    best = next(v for k, v in ckpt["callbacks"].items() if k.startswith("RunCheckpoint"))
    return {"ckpt": ckpt, "best_path": Path(best["best_model_path"]).name, "best_score": best["best_model_score"],
            "callback": best}


@pytest.mark.parametrize("runs", ["voice_runs", "xray_runs"])
def test_resumed_run_equals_uninterrupted_run(runs: str, request: pytest.FixtureRequest) -> None:
    r: Runs = request.getfixturevalue(runs)
    whole, part = r.whole, r.part
    first = checkpoint_state(part / "checkpoints" / "last.ckpt")
    assert first["ckpt"]["epoch"] == 1, "last.ckpt holds the last completed epoch, not the best one"
    steps_per_epoch = checkpoint_state(whole / "checkpoints" / "last.ckpt")["ckpt"]["global_step"] // 4
    assert first["ckpt"]["global_step"] == 2 * steps_per_epoch

    resumed_launch = r.resume(part / "checkpoints" / "last.ckpt", "part")
    assert not (resumed_launch / "checkpoints").exists(), "the resumed run writes into its original folder"

    assert read_probe(r.tmp / "part.jsonl") == read_probe(r.tmp / "whole.jsonl")  # trainable set, lrs
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


def test_a_moved_run_folder_resumes_with_its_best_checkpoint(voice_runs: Runs) -> None:
    r = voice_runs
    moved = r.tmp / "other_disk" / "part"
    shutil.copytree(r.tmp / "part_unresumed", moved)
    shutil.rmtree(r.tmp / "part_unresumed")  # as on another node: the path the checkpoints recorded is gone

    r.resume(moved / "checkpoints" / "last.ckpt", "moved",
             [o if o != "test=false" else "test=true" for o in r.overrides])
    assert not (r.tmp / "part_unresumed").exists(), "nothing is written to the folder the run was moved from"

    names = sorted(p.name for p in (moved / "checkpoints").iterdir())
    assert "last-v1.ckpt" not in names, f"last.ckpt is rewritten in place: {names}"
    a = checkpoint_state(r.whole / "checkpoints" / "last.ckpt")
    b = checkpoint_state(moved / "checkpoints" / "last.ckpt")
    assert b["ckpt"]["epoch"] == 3 and b["ckpt"]["global_step"] == a["ckpt"]["global_step"]
    assert (b["best_path"], float(b["best_score"])) == (a["best_path"], pytest.approx(float(a["best_score"])))
    assert Path(b["callback"]["best_model_path"]) == (moved / "checkpoints" / a["best_path"]).resolve()
    assert names == sorted(p.name for p in (r.whole / "checkpoints").iterdir()), "the top-k files are managed too"
    tested = json.loads((moved / "metrics.json").read_text())
    best_epoch = torch.load(moved / "checkpoints" / a["best_path"], weights_only=True)["epoch"]
    assert Path(tested["checkpoint"]) == (moved / "checkpoints" / "best.ckpt").resolve()
    assert tested["epoch"] == best_epoch, "the best epoch is the one tested"
