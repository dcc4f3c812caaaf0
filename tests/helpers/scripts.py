"""Run a root script as a user would, and how long a mistake may take to report."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.config import ROOT

# a mistake caught before torch is imported: Python, Hydra and the checks, about 2 s on an idle core
FAST_SECONDS = 15


def run(args: list[str], cwd: Path, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run a root script as a user would, writing under cwd; returns the result and its seconds."""
    environ = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    environ.update(VOXRAY_ROOT=str(cwd), VOXRAY_CACHE=str(cwd / "cache"), HF_HUB_OFFLINE="1", **env)
    start = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / args[0]), *args[1:]], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=600)
    return done, time.monotonic() - start
