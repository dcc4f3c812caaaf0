"""The multirun callback Hydra builds in every run."""

from __future__ import annotations

import subprocess
import sys


def test_the_sweep_callback_imports_no_torch() -> None:
    """Hydra builds the multirun callback in every run, before train.py's checks: importing it must
    stay light, or a one-line mistake takes 40 s instead of 2 s to report."""
    code = "import sys, voxray.cli.sweep; print(sorted({'torch', 'lightning', 'matplotlib'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
