"""Benchmarks run on tiny inputs and print their table (their figures are for bench/results.md).

The new benchmarks run in this process (`runpy`), which saves a fresh interpreter's imports; the
tests check the table's columns, that every figure is positive and that each ratio is its figures'.
"""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.config import ROOT

BENCH = ROOT / "bench"


def run_bench(script: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              capsys: pytest.CaptureFixture) -> tuple[list[list[str]], str, str]:
    """Run bench/<script> with `args` on the CPU; returns its table's rows (cells), its output and results.md."""
    results = tmp_path / "results.md"
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr(sys, "argv", [script, *args, "--device", "cpu", "--results", str(results)])
    runpy.run_path(str(BENCH / script), run_name="__main__")
    out = capsys.readouterr().out
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| ---")]
    return rows, out, results.read_text()


def bench_process(script: str, args: list[str], results: Path) -> subprocess.CompletedProcess:
    """`python bench/<script> <args> --results <results>` in a process of its own, which must succeed."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args, "--results", str(results)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def number(cell: str) -> float:
    return float(re.sub(r"[,x]", "", cell))


def assert_ratio(ratio: str, top: str, bottom: str) -> None:
    """A ratio printed as `12.3x` or `0.95` is top / bottom, to its printed precision."""
    decimals = len(ratio.rstrip("x").split(".")[1]) if "." in ratio else 0
    assert number(ratio) == pytest.approx(number(top) / number(bottom), abs=0.6 * 10**-decimals, rel=0.02)


def test_loader_benchmark_prints_and_appends_its_table(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    done = bench_process("loader.py", ["--rows", "128", "--batch", "16", "--workers", "0", "--steps", "1"], results)
    assert "| 3-s clips int16 | 0 |" in done.stdout and "clips/s" in done.stdout
    assert "## Loader alone" in results.read_text() and "| 256-px images uint8 | 0 |" in results.read_text()


def test_stream_benchmark_reads_the_disk_and_the_s3_stand_in(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    done = bench_process("stream.py", ["--rows", "64", "--batch", "16", "--workers", "0", "--steps", "1"], results)
    for reader in ("stream, local disk", "stream, object storage (local stand-in)", "store, random access"):
        assert f"| {reader} | 0 |" in done.stdout, reader
    assert "the fastest stream delivers" in done.stdout and "## Streaming reader" in results.read_text()


def test_speech_encoder_benchmark_prints_and_appends_its_table(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    convs = "[[16,10,5],[16,3,2],[16,3,2],[16,3,2],[16,3,2],[16,2,2],[16,2,2]]"
    tiny = (f"model.net.arch={{extractor_conv_layer_config:{convs},encoder_num_layers:1,encoder_embed_dim:32,"
            "encoder_num_heads:2,encoder_ff_interm_features:64,encoder_pos_conv_kernel:16,encoder_pos_conv_groups:4}")
    done = bench_process("speech_encoder.py", ["--encoders", "HUBERT_BASE", "--batch", "2", "--steps", "1",
                                               "--overrides", tiny], results)
    assert "| mel CNN (experiment=voice_mel) |" in done.stdout and "| HUBERT_BASE, fine-tuned |" in done.stdout
    assert "## Voice networks" in results.read_text()


def test_frontend_benchmark_compares_torchaudio_with_librosa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture) -> None:
    rows, out, results = run_bench("frontend.py", ["--batches", "1", "4", "--min-seconds", "0.05", "--workers", "1"],
                                   tmp_path, monkeypatch, capsys)
    assert rows[0] == ["batch", "torchaudio on cpu (clips/s)", "librosa, 1 processes (clips/s)", "ratio"]
    assert [r[0] for r in rows[1:]] == ["1", "4"]
    for _, ours, theirs, ratio in rows[1:]:
        assert number(ours) > 0 and number(theirs) > 0
        assert_ratio(ratio, ours, theirs)
    agree = float(re.search(r"agree to (\S+) dB", out).group(1))
    assert agree < 0.01  # the front end computes librosa's log-mel
    assert "## Log-mel front end" in results and "| 4 |" in results


@pytest.mark.parametrize("task, args", [
    ("voice", ["--files", "16", "--set", "model.net.channels=[4,8]", "model.frontend.channel=null"]),
    ("xray", ["--files", "8", "--source-px", "96", "--set", "model.net.name=test_resnet", "data.image_size=48",
              "model.frontend.crop_size=40"]),
])
def test_training_throughput_benchmark_feeds_one_model_three_ways(
        task: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    rows, out, results = run_bench("train_throughput.py", ["--task", task, "--batch", "4", "--steps", "2",
                                                           "--warmup", "1", "--workers", "0", *args],
                                   tmp_path, monkeypatch, capsys)
    assert rows[0] == ["batch", "(a) cache → cpu (/s)", "(b) usual way (/s)", "(c) ceiling (/s)", "(a)/(b)", "(a)/(c)"]
    (batch, a, b, c, a_b, a_c), = rows[1:]
    assert batch == "4" and min(number(a), number(b), number(c)) > 0
    assert_ratio(a_b, a, b)
    assert_ratio(a_c, a, c)
    assert f"## Training throughput, {task}" in results and ("clips/s" if task == "voice" else "images/s") in out


def test_preparation_benchmark_times_voice_and_xray(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture) -> None:
    rows, out, results = run_bench("prepare.py", ["--clips", "3", "--seconds", "1", "--images", "2",
                                                  "--source-px", "96", "--workers", "0"],
                                   tmp_path, monkeypatch, capsys)
    assert rows[0] == ["input", "step", "processes", "files/s", "files/s per process"]
    steps = [r[1] for r in rows[1:]]
    assert steps == ["decode + resample + trim + noise reduction", "decode + resample + trim",
                     "decode + letterbox to 256"]
    for *_, rate, per_process in rows[1:]:
        assert number(rate) > 0 and number(per_process) == number(rate)  # one process: the same figure

    from record import machine  # bench/ is on sys.path while run_bench runs

    assert "## Preparation — " in results and machine() in results.splitlines()[1]  # the CPU model


def test_scale_benchmark_measures_each_side_in_its_own_process(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    done = subprocess.run([sys.executable, str(BENCH / "scale.py"), "--sizes", "300", "--measure", "(a) read",
                           "--baseline-src", str(ROOT / "src"), "--results", str(results)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in done.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| ---")]
    assert rows[0][:6] == ["rows", "speakers", "measurement", "today (s)", "new (s)", "today/new"]
    (size, speakers, name, today, new, ratio, rss_today, rss_new, rss_ratio), = rows[1:]
    assert (size, name) == ("300", "(a) read") and int(speakers) > 10
    assert_ratio(ratio, today, new)
    assert_ratio(rss_ratio, rss_today.split()[0], rss_new.split()[0])
    assert "## Release scale" in results.read_text()


def test_scale_benchmark_writes_a_release_in_either_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from voxray.data.voice.commonvoice import read_common_voice

    monkeypatch.syspath_prepend(str(BENCH))
    from scale import write_release

    for layout in ("validated", "splits"):
        speakers = write_release(tmp_path / layout, 1000, layout)
        table = read_common_voice(tmp_path / layout)
        assert len(table) == 1000 and table["client_id"].nunique() == speakers
        assert table.groupby("client_id")["split"].nunique().max() == 1
    assert set(table["split"]) == {"train", "val", "test"} and 0.1 < (table["age"] == "").mean() < 0.5


def test_encoder_cache_benchmark_sets_the_cache_beside_audio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("transformers", reason="the hub group (uv sync --group hub; CI installs it)")
    from tests.models.test_hub_encoder import tiny_whisper

    source = tiny_whisper(tmp_path / "whisper")
    rows, out, results = run_bench("encoder_cache.py", ["--source", str(source), "--clips", "4", "--batch", "8",
                                                        "--epoch-clips", "100"], tmp_path, monkeypatch, capsys)
    steps = [r[0] for r in rows[1:]]
    assert steps == ["build the cache (once)", "train the head from the cache",
                     "train the head from audio (encoder each epoch)"]
    assert all(number(r[1]) > 0 for r in rows[1:])
    assert_ratio(rows[2][3], rows[2][1], rows[3][1])
    assert "A frozen hub encoder" in results and out.count("|") > 10
