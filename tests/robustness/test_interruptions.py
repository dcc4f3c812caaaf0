"""A preparation killed with SIGKILL resumes to a byte-identical store; processes share one with no lock."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tests.helpers.prepare import PART_SIZE, prepare, write_clips

ROOT = Path(__file__).resolve().parents[2]


def _worker(table: Path, folder: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.helpers.prepare", str(table), str(folder), *args]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def _digests(folder: Path) -> dict[str, str]:
    """Every file of a store, by its path inside the store."""
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file()}


def _parts(folder: Path) -> list[Path]:
    return sorted((folder / "parts").glob("[0-9]*.parquet"))


def test_sigkill_halfway_then_rerun_gives_the_uninterrupted_store(tmp_path: Path, capsys) -> None:
    table = write_clips(tmp_path / "clips", 40)  # 10 parts of 4, four empty files among them
    table.to_csv(tmp_path / "table.csv", index=False)
    folder = tmp_path / "killed"
    proc = _worker(tmp_path / "table.csv", folder, "--delay", "0.05")
    try:
        _wait_for(lambda: len(_parts(folder)) >= 3 or proc.poll() is not None, "3 finished parts")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    assert not (folder / "store.json").exists(), "killed too late: make the loader slower"
    done = _parts(folder)
    for part in done:  # every result table present is whole: written to a temporary name, renamed
        assert len(pd.read_parquet(part)) == PART_SIZE
    # what a kill inside a write would leave behind: never to be read, and removed by the rerun
    owner = f"~{socket.gethostname()}~{proc.pid}~"
    (folder / "parts" / f".00009.parquet{owner}x1.tmp").write_bytes(b"PAR1 half a table")
    (folder / f".manifest.parquet{owner}x2.tmp").write_bytes(b"PAR1 half a manifest")

    resumed = prepare(table, folder)
    assert f"resuming, {len(done)}/10 parts already done" in capsys.readouterr().out
    reference = prepare(table, tmp_path / "uninterrupted")
    assert _digests(folder) == _digests(tmp_path / "uninterrupted")
    assert len(resumed.data) == 36 and len(resumed.skipped) == 4
    assert not list(folder.glob("**/.*~*")), "no temporary file or part folder left"
    np.testing.assert_array_equal(resumed.data[:], reference.data[:])


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a dead child nobody has reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_pool_run_leaves_no_workers(tmp_path: Path) -> None:
    table = write_clips(tmp_path / "clips", 40)
    table.to_csv(tmp_path / "table.csv", index=False)
    folder = tmp_path / "cache"
    proc = _worker(tmp_path / "table.csv", folder, "--delay", "0.2", "--workers", "2")
    workers: list[int] = []
    try:
        _wait_for(lambda: len(_parts(folder)) >= 1 or proc.poll() is not None, "the first part")
        workers = _children(proc.pid)
        assert len(workers) == 2, proc.poll()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        _wait_for(lambda: not any(_running(pid) for pid in workers), "the workers to end", 10)
    finally:
        for pid in filter(_running, workers):
            os.kill(pid, signal.SIGKILL)
    assert len(prepare(table, folder).data) == 36


def test_two_processes_given_the_same_parts_build_one_whole_store(tmp_path: Path) -> None:
    table = write_clips(tmp_path / "clips", 20)
    table.to_csv(tmp_path / "table.csv", index=False)
    folder = tmp_path / "store"
    ready, go = tmp_path / "ready", tmp_path / "go"
    procs = [_worker(tmp_path / "table.csv", folder, "--delay", "0.02", "--ready", f"{ready}{i}", "--go", str(go))
             for i in range(2)]
    try:  # both imported, then both start at once on the same five parts
        _wait_for(lambda: all(Path(f"{ready}{i}").exists() for i in range(2))
                  or any(p.poll() is not None for p in procs), "both processes to start")
        go.touch()
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert [out.splitlines()[-1] for out, _ in outputs] == ["rows=18 skipped=2"] * 2
    prepare(table, tmp_path / "alone")
    assert _digests(folder) == _digests(tmp_path / "alone")


def test_three_tasks_with_their_own_parts_build_the_single_process_store(tmp_path: Path) -> None:
    table = write_clips(tmp_path / "clips", 40)  # 10 parts
    table.to_csv(tmp_path / "table.csv", index=False)
    folder = tmp_path / "store"
    procs = [_worker(tmp_path / "table.csv", folder, "--task", f"{k}/3") for k in range(3)]  # part=k of=3
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    assert "rows=36 skipped=4" in [out.splitlines()[-1] for out, _ in outputs], "the last task completes it"
    prepare(table, tmp_path / "alone")
    assert _digests(folder) == _digests(tmp_path / "alone")
