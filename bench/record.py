"""Append a benchmark's or a study's tables to its results.md, headed by the date, machine, versions and command."""

from __future__ import annotations

import platform
import shlex
import sys
from datetime import date
from pathlib import Path

import torch

RESULTS = Path(__file__).with_name("results.md")


def machine() -> str:
    """The CPU model (Linux's /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def command() -> str:
    """The command that ran, as it can be typed again: `python bench/x.py ...` or `python -m experiments.x ...`."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)  # set when run with -m
    script = ["-m", spec.name.removesuffix(".__main__")] if spec is not None else sys.argv[:1]
    return shlex.join(["python", *script, *sys.argv[1:]])


def append_results(title: str, body: str, results: Path = RESULTS, details: str = "") -> None:
    """Add `## <title> — <date>, <machine>, <threads>, torch <version>[, details]`, the command line
    that ran, and `body` (markdown) to the end of `results`."""
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    extra = f", {details}" if details else ""
    header = (f"\n## {title} — {date.today()}, {machine()}{gpu}, {torch.get_num_threads()} threads, "
              f"torch {torch.__version__}{extra}\n\n`{command()}`\n\n")
    with results.open("a") as f:
        f.write(header + body + "\n")
