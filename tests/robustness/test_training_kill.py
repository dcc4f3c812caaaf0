"""A training process killed with SIGKILL after an epoch resumes from last.ckpt at the next epoch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests.helpers.config import VOICE_TINY
from tests.helpers.probes import read_probe

ROOT = Path(__file__).resolve().parents[2]
TINY = [*VOICE_TINY, "test=false", "trainer.max_epochs=3", "+callbacks.probe._target_=tests.helpers.probes.EpochProbe"]


def launch(tmp: Path, corpus: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "VOXRAY_ROOT": str(tmp), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    args = [f"data.root={corpus}", f"paths.cache_dir={tmp / 'cache'}", *TINY,
            f"+callbacks.probe.path={tmp / 'epochs.jsonl'}", *extra]
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=tmp, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sigkill_after_an_epoch_then_resume_continues_at_the_next(tmp_path: Path, official_corpus: Path) -> None:
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    proc = launch(tmp_path, official_corpus, f"hydra.run.dir={run}", "+callbacks.probe.pause_s=60")
    try:
        deadline = time.monotonic() + 240
        while not last.exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no last.ckpt after 240 s"
            time.sleep(0.2)
        time.sleep(1.0)  # inside the pause after epoch 0: its checkpoint is renamed into place
        proc.send_signal(signal.SIGKILL)
    finally:
        output = proc.communicate(timeout=60)[0]
    assert proc.returncode == -signal.SIGKILL, output[-2000:]
    assert torch.load(last, weights_only=True)["epoch"] == 0

    resumed = launch(tmp_path, official_corpus, f"hydra.run.dir={tmp_path / 'relaunch'}", f"ckpt_path={last}")
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output[-3000:]
    assert [r["epoch"] for r in read_probe(tmp_path / "epochs.jsonl")] == [0, 1, 2], "no epoch repeated or lost"
    assert torch.load(last, weights_only=True)["epoch"] == 2, "the resumed run continues in its own folder"
