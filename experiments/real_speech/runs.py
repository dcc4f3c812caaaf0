"""The real-speech check's runs: the project's own train.py and baseline.py on each fold, as subprocesses."""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from voxray.reporting.predictions import FILE as PREDICTIONS

ROOT = Path(__file__).resolve().parents[2]


def run(cmd: list[str], run_dir: Path, reuse_after: float | None = None) -> Path:
    """Run one project command whose Hydra run folder is `run_dir`; its test_predictions.csv.

    Args:
        cmd: the command, run in the project folder.
        run_dir: its `hydra.run.dir`, replaced unless reused.
        reuse_after: keep a test_predictions.csv written after this time (the corpus build's) by a
            run of the same overrides, None = never.
    """
    csv = run_dir / PREDICTIONS
    if (reuse_after is not None and csv.exists() and csv.stat().st_mtime > reuse_after
            and _overrides(run_dir) == [a for a in cmd[2:] if not a.startswith("hydra.")]):
        print(f"  reusing {csv}")
        return csv
    shutil.rmtree(run_dir, ignore_errors=True)  # a stale last.ckpt would be resumed from
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log, start = run_dir.with_suffix(".log"), time.perf_counter()
    print(f"  {shlex.join(cmd)}", flush=True)
    with log.open("w") as out:
        code = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
    if code or not csv.exists():
        sys.exit(f"{cmd[1]} failed (exit {code}{', no ' + PREDICTIONS if not code else ''}); see {log}")
    print(f"    done in {time.perf_counter() - start:.0f} s")
    return csv


def _overrides(run_dir: Path) -> list[str] | None:
    """The overrides a Hydra run folder was made with (as given, one per item), None if it has none."""
    path = run_dir / ".hydra" / "overrides.yaml"
    return OmegaConf.to_container(OmegaConf.load(path)) if path.exists() else None


def variant(text: str) -> tuple[str, list[str]]:
    name, sep, overrides = text.partition("=")
    if not sep or not re.fullmatch(r"[\w-]+", name) or name == "baseline":
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME=\"override1 override2\" (NAME: letters, digits, _ "
                                         f"or -; 'baseline' is taken)")
    return name, shlex.split(overrides)


def run_name(variant: str, train_seed: int, seed: int) -> str:
    """`<variant>` for the folds' seed, `<variant>_seed<N>` for another training seed."""
    return variant if train_seed == seed else f"{variant}_seed{train_seed}"


def commands(variants: Sequence[tuple[str, list[str]]], trainer: str, seed: int,
             train_seeds: Sequence[int] = (), baseline: Sequence[str] = ()) -> dict[str, list[str]]:
    """Each CNN variant's train.py command, and the baseline's, before a fold's data.root.

    A variant trains once per seed of `train_seeds` (default: the folds' seed), named `<variant>`
    for the folds' seed and `<variant>_seed<N>` for the others. The seed comes before a variant's
    overrides (Hydra keeps the last value), so that a variant may also set its own `seed=N`.
    A variant's own `experiment=...` replaces `experiment=voice_gender` (e.g. voice_gender_ssl).
    `baseline` holds the baseline's own overrides.
    """
    runs = {}
    for name, overrides in variants:
        experiment = next((o for o in overrides if o.startswith("experiment=")), "experiment=voice_gender")
        rest = [o for o in overrides if not o.startswith("experiment=")]
        for s in train_seeds or [seed]:
            runs[run_name(name, s, seed)] = [
                sys.executable, "train.py", experiment, f"trainer={trainer}", f"seed={s}", *rest]
    runs["baseline"] = [sys.executable, "baseline.py", "data.target=gender", f"seed={seed}", *baseline]
    return runs
