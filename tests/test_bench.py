"""Benchmarks run on tiny inputs and print their table (their figures are for bench/results.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def test_loader_benchmark_prints_and_appends_its_table(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "loader.py"), "--rows", "128", "--batch", "16",
                           "--workers", "0", "--steps", "1", "--results", str(results)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| 3-s clips int16 | 0 |" in done.stdout and "clips/s" in done.stdout
    assert "## Loader alone" in results.read_text() and "| 256-px images uint8 | 0 |" in results.read_text()
