"""The first hour with checkpoints: a wrong or missing ckpt_path, a file train.py did not write, and
testing a checkpoint with train.py are each one line that says what to pass."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from tests.helpers.config import ROOT, compose_train
from tests.helpers.scripts import run
from voxray.cli.checks import check_eval, check_train
from voxray.errors import UserError


def checkpoints_of_runs(root: Path, runs: int) -> list[Path]:
    """`runs` run folders under root/outputs/train/runs, each with best.ckpt and last.ckpt, oldest first."""
    folders = []
    for i in range(runs):
        folder = root / "outputs" / "train" / "runs" / f"2026-01-0{i + 1}_10-00-00" / "checkpoints"
        folder.mkdir(parents=True)
        for name in ("epoch_003.ckpt", "best.ckpt", "last.ckpt"):
            (folder / name).write_bytes(b"")
            os.utime(folder / name, (1_700_000_000 + 3600 * i,) * 2)
        folders.append(folder)
    return folders


@pytest.mark.parametrize("script, name", [("train", "last.ckpt"), ("eval", "best.ckpt")])
def test_a_wrong_checkpoint_lists_the_newest_that_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         script: str, name: str) -> None:
    """train.py resumes from a last.ckpt; eval.py (predict.py, export.py) takes a run's best.ckpt."""
    monkeypatch.setenv("VOXRAY_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    folders = checkpoints_of_runs(tmp_path, 4)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(script, overrides=["ckpt_path=outputs/train/runs/2026-01-05/checkpoints/last.ckpt"])
    newest = ", ".join(str(f.relative_to(tmp_path) / name) for f in folders[:0:-1])
    with pytest.raises(UserError, match=re.escape(f"is not a file; the newest {name} files under outputs: {newest}")):
        (check_train if script == "train" else check_eval)(cfg)


def test_eval_names_a_missing_checkpoint(tmp_path: Path) -> None:
    cfg = OmegaConf.create({"ckpt_path": str(tmp_path / "last.ckpt"), "data": {}})
    with pytest.raises(UserError, match="last.ckpt is not a file; pass a checkpoint such as ckpt_path=outputs/"):
        check_eval(cfg)


def test_checkpoint_examples_deploy_best_and_resume_last(tmp_path: Path) -> None:
    """eval/predict/export examples name the tested checkpoint; a resume example names last.ckpt."""
    missing = tmp_path / "nowhere.ckpt"
    with pytest.raises(UserError, match=re.escape("ckpt_path=outputs/train/runs/<time>/checkpoints/best.ckpt")):
        check_eval(OmegaConf.create({"ckpt_path": str(missing), "data": {}}))
    resume = "resume from a run's outputs/train/runs/<time>/checkpoints/last.ckpt"
    with pytest.raises(UserError, match=re.escape(resume)):
        check_train(compose_train([f"ckpt_path={missing}"]))


def test_testing_a_checkpoint_with_train_py_points_to_eval(tmp_path: Path) -> None:
    """train=false ckpt_path=X would test this config's untrained network, not X."""
    ckpt = tmp_path / "best.ckpt"
    ckpt.write_bytes(b"")
    says = (f"train=false with ckpt_path={ckpt} would test this config's untrained network, not the checkpoint; "
            f"to test a checkpoint run eval.py ckpt_path={ckpt}")
    with pytest.raises(UserError, match=re.escape(says)):
        check_train(compose_train(["train=false", f"ckpt_path={ckpt}"]))
    check_train(compose_train(["train=false"]))  # a smoke test of the untrained network stays possible


@pytest.mark.parametrize("content, says", [
    ("torch", "is not a voxray checkpoint (no stored run config); pass one that train.py wrote"),
    ("text", "cannot be read as a checkpoint with weights_only=True"),
])
def test_eval_of_a_file_train_did_not_write_is_one_line(tmp_path: Path, content: str, says: str) -> None:
    ckpt = tmp_path / "model.ckpt"
    if content == "torch":  # e.g. another project's Lightning checkpoint
        torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, ckpt)
    else:
        ckpt.write_text("not a checkpoint\n")
    done, _ = run(["eval.py", f"ckpt_path={ckpt}"], tmp_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    assert says in done.stderr, done.stderr
