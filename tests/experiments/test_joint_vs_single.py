"""experiments/joint_vs_single.py: the joint model's checks against single-task runs, read from metrics.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers.config import ROOT


def run_folder(folder: Path, metrics: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def block(uar: float, lo: float, hi: float, prefix: str) -> dict:
    return {f"{prefix}uar": uar, f"{prefix}uar_ci95": [lo, hi],
            f"{prefix}speaker": {"uar": uar + 0.01, "uar_ci95": [lo, hi]}}


def compare(tmp_path: Path, joint_age: float, joint_gender: float) -> str:
    joint = run_folder(tmp_path / "joint", {**block(joint_age, 0.3, 0.5, "test/age/"), "test/age/n_examples": 250,
                                            **block(joint_gender, 0.9, 1.0, "test/gender/")})
    age = run_folder(tmp_path / "age", {**block(0.40, 0.33, 0.47, "test/"), "test/n_examples": 250})
    gender = run_folder(tmp_path / "gender", block(0.99, 0.97, 1.0, "test/"))
    done = subprocess.run([sys.executable, "-m", "experiments.joint_vs_single", str(joint), str(age), str(gender)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_checks_read_the_age_only_interval_and_the_gender_bar(tmp_path: Path) -> None:
    out = compare(tmp_path / "a", joint_age=0.41, joint_gender=0.96)
    assert "| age | clips | 0.410 (0.30–0.50) | 0.400 (0.33–0.47) |" in out
    assert "| gender | speakers | 0.970 (0.90–1.00) | 1.000 (0.97–1.00) |" in out
    assert "within the age-only 95% CI [0.330, 0.470]: yes" in out and ">= 0.95: yes" in out
    out = compare(tmp_path / "b", joint_age=0.30, joint_gender=0.94)
    assert "95% CI [0.330, 0.470]: NO" in out and ">= 0.95: NO" in out


def test_a_single_task_interval_that_is_undefined_is_said_not_a_crash(tmp_path: Path) -> None:
    joint = run_folder(tmp_path / "joint", {**block(0.4, 0.3, 0.5, "test/age/"), "test/age/n_examples": 250,
                                            **block(0.96, 0.9, 1.0, "test/gender/")})
    age = run_folder(tmp_path / "age", {**block(0.40, 0.33, 0.47, "test/"), "test/uar_ci95": None,
                                        "test/n_examples": 250})
    done = subprocess.run([sys.executable, "-m", "experiments.joint_vs_single", str(joint), str(age)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode != 0 and "has no interval (a class of one speaker)" in done.stderr
