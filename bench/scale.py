"""Common Voice at release scale: reading the clip table, planning it as the voice DataModule does
(label map, speaker split, class counts, data-report summaries), and a training process's start to
its first batch with the prepared data complete, on synthetic releases of 10k-1M rows.
Each measurement runs in a fresh process, so its peak RSS is its own; `--baseline-src` runs the same
measurements on another checkout's code beside this one's.

    python bench/scale.py --sizes 10000 100000
    python bench/scale.py --sizes 10000 100000 --baseline-src <baseline checkout>/src

A measurement is a function in `MEASUREMENTS`: given the release folder it does its untimed setup
and returns the step to time. Prints a table and appends it, with the date, machine, command and
versions, to bench/results.md.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
AGES = ["", "teens", "twenties", "thirties", "fourties", "fifties", "sixties", "seventies", "eighties", "nineties"]
AGE_SHARE = [0.25, 0.07, 0.25, 0.18, 0.1, 0.07, 0.04, 0.025, 0.01, 0.005]  # a quarter of the speakers blank
GENDERS = ["male_masculine", "female_feminine", "", "male", "female", "do_not_wish_to_say", "intersex", "transgender"]
GENDER_SHARE = [0.45, 0.15, 0.25, 0.07, 0.04, 0.02, 0.01, 0.01]
SENTENCES = ["The quick brown fox.", 'She said "hello" twice.', "It's 'quoted' oddly", "Numbers like 42 appear."]


def clips_per_speaker(rows: int, rng: np.random.Generator) -> np.ndarray:
    """Speakers' clip counts summing to `rows`: P(k) ~ k^-1.8, most record one or two, a few thousands."""
    sizes = np.minimum(rng.zipf(1.8, rows), max(rows // 50, 1))
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), rows) + 1]
    sizes[-1] -= sizes.sum() - rows
    return sizes


def write_release(folder: Path, rows: int, layout: str, seed: int = 0) -> int:
    """Write a Common Voice release's tables (no clips) into `folder`: `validated.tsv`, or
    speaker-disjoint `train.tsv` `dev.tsv` `test.tsv` (80/10/10 of the speakers), in the official
    columns and order. Returns the number of speakers."""
    rng = np.random.default_rng(seed)
    sizes = clips_per_speaker(rows, rng)
    n = len(sizes)
    speaker = np.repeat(np.arange(n), sizes)
    ids = np.array([rng.bytes(64).hex() for _ in range(n)])  # 128 hex digits, as released
    table = pd.DataFrame({
        "client_id": ids[speaker],
        "path": [f"common_voice_en_{i}.mp3" for i in rng.permutation(10 * rows)[:rows]],
        "sentence": np.array(SENTENCES)[rng.integers(0, len(SENTENCES), rows)],
        "up_votes": rng.integers(2, 6, rows), "down_votes": rng.integers(0, 2, rows),
        "age": np.array(AGES)[rng.choice(len(AGES), n, p=AGE_SHARE)][speaker],
        "gender": np.array(GENDERS)[rng.choice(len(GENDERS), n, p=GENDER_SHARE)][speaker],
        "accents": np.where(rng.random(n) < 0.6, "", "United States English")[speaker],
        "locale": "en", "segment": "",
    }).iloc[rng.permutation(rows)]  # a release lists clips in no speaker order
    folder.mkdir(parents=True, exist_ok=True)
    if layout == "validated":
        table.to_csv(folder / "validated.tsv", sep="\t", index=False)
    else:
        part = rng.choice(3, n, p=[0.8, 0.1, 0.1])[speaker[table.index]]
        for i, name in enumerate(("train", "dev", "test")):
            table[part == i].to_csv(folder / f"{name}.tsv", sep="\t", index=False)
    return n


def read(root: Path) -> Callable[[], object]:
    """(a) `read_common_voice` of the release."""
    from voxray.data.voice.commonvoice import read_common_voice

    return lambda: read_common_voice(root)


def plan(target: str | list[str]) -> Callable[[Path], Callable[[], object]]:
    """(b) the voice DataModule's plan for `target` (label map, split, disjointness check) on the table
    read beforehand, then what its setup computes from the plan's table: class counts and the data report."""

    def measure(root: Path) -> Callable[[], object]:
        import yaml

        from voxray.data.voice import datamodule as voice

        conf = yaml.safe_load((REPO / "conf" / "data" / "voice.yaml").read_text())
        tasks = [target] if isinstance(target, str) else target
        classes = {t: conf["labels"][t]["classes"] for t in tasks}
        data = voice.VoiceDataModule(
            root=str(root), target=target, labels=conf["labels"], clean=conf["clean"],
            classes=classes[target] if isinstance(target, str) else classes, cache_dir=tempfile.gettempdir(),
            num_workers=0, val_fraction=conf["val_fraction"], test_fraction=conf["test_fraction"])
        raw = voice.read_common_voice(root)

        def step() -> dict:
            with mock.patch.object(voice, "read_common_voice", lambda *_: raw):  # read above, not timed
                planned = data._get_plan()
            data.table = planned.table.assign(row=np.arange(len(planned.table)))
            data.class_counts("train")
            if len(inspect.signature(data._report).parameters) == 3:  # before the store: (plan, prepared, table)
                data._report(planned, SimpleNamespace(skipped=[], folder=Path(".")), data.table)
            else:  # (planned rows, table)
                data._report(SimpleNamespace(report=planned.report, group_name=planned.group_name, skipped=0,
                                             folder=Path(".")), data.table)
            return data.report

        return step

    return measure


STAND_IN = 16  # samples per stand-in clip: 1M rows of 3-s int16 clips would be 96 GB


def stand_in_clip(path: str) -> tuple[np.ndarray, dict]:
    """A stored row for a clip that is not on disk: 16 samples derived from its name."""
    return np.full(STAND_IN, zlib.crc32(Path(path).name.encode()) % 30000, np.int16), {"duration_s": 1.0}


def _warm(module: type, kwargs: dict) -> None:
    data = module(**kwargs)
    data.prepare_data()
    data.setup("fit")


def first_batch(root: Path) -> Callable[[], object]:
    """(c) a training process's start with the store complete: the DataModule's prepare_data and
    setup, then its first training batch. Beforehand, untimed, the same settings prepare the store
    with stand-in clips of 16 samples (no audio is read: the clips are not on disk)."""
    import yaml

    from voxray.data.voice import datamodule as voice

    conf = yaml.safe_load((REPO / "conf" / "data" / "voice.yaml").read_text())
    side = hashlib.sha256(voice.__file__.encode()).hexdigest()[:8]  # each checkout's code its own cache
    clean = {**conf["clean"], "clip_seconds": STAND_IN / conf["clean"]["sample_rate"], "min_seconds": 0.0}
    kwargs = dict(root=str(root), target="age", labels=conf["labels"], clean=clean,
                  classes=conf["labels"]["age"]["classes"], cache_dir=str(root / f"cache-{side}"), num_workers=0,
                  val_fraction=conf["val_fraction"], test_fraction=conf["test_fraction"], max_skip_fraction=None)
    if "prepare_workers" in inspect.signature(voice.ArrayDataModule.__init__).parameters:
        kwargs["prepare_workers"] = 0  # in this process, as num_workers=0 prepared before the store
    voice.VoiceDataModule.loader = lambda self: stand_in_clip
    # every cache or saved table a start can reuse is written now, in a forked process: its memory
    # is not this one's, whose peak is then the timed start's alone
    warm = multiprocessing.get_context("fork").Process(target=_warm, args=(voice.VoiceDataModule, kwargs))
    warm.start()
    warm.join()
    if warm.exitcode:
        raise RuntimeError(f"preparing the stand-in clips failed (exit code {warm.exitcode})")

    def step() -> int:
        data = voice.VoiceDataModule(**kwargs)
        data.prepare_data()
        data.setup("fit")
        x, y, _ = next(iter(data.train_dataloader()))
        return len(x)

    return step


MEASUREMENTS: dict[str, Callable[[Path], Callable[[], object]]] = {
    "(a) read": read,
    "(b) plan, age": plan("age"),
    "(b) plan, age + gender": plan(["age", "gender"]),
    "(c) start to first batch": first_batch,
}


def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory now (VmRSS) or its peak so far (VmHWM). The peak is read from
    /proc rather than getrusage's ru_maxrss, which Linux carries over from the forking parent."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(f"{field}:")) / 1024


def child(name: str, root: Path) -> None:
    """Run one measurement and print {seconds, peak_mib, start_mib} (RSS at the step's start) as JSON."""
    step = MEASUREMENTS[name](root)
    start_mib = rss_mib()
    began = time.perf_counter()
    step()
    seconds = time.perf_counter() - began
    print(json.dumps({"seconds": seconds, "peak_mib": rss_mib("VmHWM"), "start_mib": start_mib}))


def measure(name: str, root: Path, src: Path, timeout: float) -> dict | None:
    """`child(name, root)` in a fresh interpreter importing voxray from `src`; None past `timeout`."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    try:
        done = subprocess.run([sys.executable, __file__, "--child", name, str(root)], env=env,
                              capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"{name} on {src} failed:\n{error.stderr[-3000:]}") from error
    return json.loads(done.stdout.splitlines()[-1])


def fastest(name: str, root: Path, sides: dict[str, Path], repeats: int, timeout: float) -> dict[str, dict | None]:
    """Each side's fastest of `repeats` runs of a measurement; the sides take turns going first, so
    that neither always meets the machine's load first."""
    runs: dict[str, list[dict]] = {s: [] for s in reversed(sides)}
    for i in range(repeats):
        for side in list(runs)[::-1] if i % 2 else list(runs):
            result = measure(name, root, sides[side], timeout)
            if result is not None:
                runs[side].append(result)
    return {s: min(r, key=lambda x: x["seconds"]) if r else None for s, r in runs.items()}


def cells(result: dict | None, timeout: float) -> tuple[str, str]:
    """A result's time and memory cells: `12.3` and `812 (+140)`, the step's own rise in brackets."""
    if result is None:
        return f"> {timeout:.0f}", "–"
    return f"{result['seconds']:.3g}", f"{result['peak_mib']:,.0f} (+{result['peak_mib'] - result['start_mib']:,.0f})"


def ratio(base: dict | None, new: dict | None, key: str) -> str:
    """today / new of a time (`2.5x`, above 1 when new is faster) or of a peak RSS (`0.98`)."""
    if base is None or new is None:
        return "–"
    if key == "seconds":
        return f"{base[key] / new[key]:.1f}x"
    return f"{base[key] / new[key]:.2f}"


def main() -> None:
    from record import RESULTS, append_results  # the script's folder is on sys.path; imports torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="rows per release")
    p.add_argument("--measure", nargs="+", choices=list(MEASUREMENTS), default=list(MEASUREMENTS))
    p.add_argument("--layout", choices=["validated", "splits"], default="validated",
                   help="validated.tsv (voxray splits by speaker) or the release's train/dev/test.tsv")
    p.add_argument("--baseline-src", type=Path, help="another checkout's src folder, measured beside this one")
    p.add_argument("--repeats", type=int, default=1,
                   help="fresh processes per cell, the sides taking turns; the fastest counts")
    p.add_argument("--timeout", type=float, default=600, help="seconds one measurement may take")
    p.add_argument("--results", type=Path, default=RESULTS, help="the markdown file the table is appended to")
    args = p.parse_args()
    sides = {"new": REPO / "src"} | ({"today": args.baseline_src.resolve()} if args.baseline_src else {})
    header = "| rows | speakers | measurement | " + " | ".join(
        [f"{s} (s)" for s in reversed(sides)] + (["today/new"] if len(sides) > 1 else [])
        + [f"{s} peak RSS (MiB)" for s in reversed(sides)] + (["today/new"] if len(sides) > 1 else [])) + " |"
    lines = [header, "|" + " --- |" * (header.count("|") - 1)]
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.sizes:
            root = Path(tmp) / str(rows)
            speakers = write_release(root, rows, args.layout)
            for name in args.measure:
                got = fastest(name, root, sides, args.repeats, args.timeout)
                time_cells, rss_cells = zip(*(cells(r, args.timeout) for r in got.values()))
                row = [f"{rows:,}", f"{speakers:,}", name, *time_cells]
                if len(sides) > 1:
                    row.append(ratio(got["today"], got["new"], "seconds"))
                row += rss_cells
                if len(sides) > 1:
                    row.append(ratio(got["today"], got["new"], "peak_mib"))
                lines.append("| " + " | ".join(row) + " |")
                print(lines[-1], flush=True)
    load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    lines += ["", f"Each cell the fastest of {args.repeats} fresh process(es), the sides taking turns to go first; "
                  f"peak RSS (VmHWM) is that process's own, (+n) its rise during the timed step; "
                  f"layout {args.layout}; load average (1, 5, 15 min) {load_before} at the start and {load_after} "
                  f"at the end of the run, on {os.cpu_count()} cores."]
    table = "\n".join(lines)
    print("\n".join(lines[-2:]))
    append_results("Release scale", table, args.results, f"pandas {pd.__version__}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
