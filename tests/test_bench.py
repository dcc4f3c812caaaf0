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


def test_speech_encoder_benchmark_prints_and_appends_its_table(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    convs = "[[16,10,5],[16,3,2],[16,3,2],[16,3,2],[16,3,2],[16,2,2],[16,2,2]]"
    tiny = (f"model.net.arch={{extractor_conv_layer_config:{convs},encoder_num_layers:1,encoder_embed_dim:32,"
            "encoder_num_heads:2,encoder_ff_interm_features:64,encoder_pos_conv_kernel:16,encoder_pos_conv_groups:4}")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "speech_encoder.py"), "--encoders", "HUBERT_BASE",
                           "--batch", "2", "--steps", "1", "--results", str(results), "--overrides", tiny],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| mel CNN (experiment=voice_mel) |" in done.stdout and "| HUBERT_BASE, fine-tuned |" in done.stdout
    assert "## Voice networks" in results.read_text()
