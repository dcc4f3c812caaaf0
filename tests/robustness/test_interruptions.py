"""A preparation killed with SIGKILL resumes to a byte-identical cache; two processes share one."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tests.helpers.prepare import CHUNK_SIZE, prepare, write_clips

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = ("data.npy", "index.jsonl", "skipped.csv")


def _worker(table: Path, folder: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.helpers.prepare", str(table), str(folder), *args]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def _digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in OUTPUTS}


def _parts(folder: Path) -> list[Path]:
    return sorted((folder / "parts").glob("[0-9]*.npz"))


def test_sigkill_halfway_then_rerun_gives_the_uninterrupted_cache(tmp_path: Path, capsys) -> None:
    table = write_clips(tmp_path / "clips", 40)  # 10 chunks of 4, four empty files among them
    table.to_csv(tmp_path / "table.csv", index=False)
    folder = tmp_path / "killed"
    proc = _worker(tmp_path / "table.csv", folder, "--delay", "0.05")
    try:
        _wait_for(lambda: len(_parts(folder)) >= 3 or proc.poll() is not None, "3 finished chunks")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    assert not (folder / "complete.json").exists(), "killed too late: make the loader slower"
    done = _parts(folder)
    for part in done:  # every chunk file present is whole: written to a temporary name, renamed
        with np.load(part) as z:
            assert len(z["data"]) + len(json.loads(str(z["skipped"]))) == CHUNK_SIZE
    # what a kill inside a write would leave behind: never to be read, and removed by the rerun
    (folder / "parts" / ".00009.npz.x1.tmp").write_bytes(b"PK\x03\x04 half a zip")
    (folder / ".data.npy.x2.tmp").write_bytes(b"\x93NUMPY half an array")

    resumed = prepare(table, folder)
    assert f"resuming, {len(done)}/10 chunks already done" in capsys.readouterr().out
    reference = prepare(table, tmp_path / "uninterrupted")
    assert _digests(folder) == _digests(tmp_path / "uninterrupted")
    assert len(resumed.data) == 36 and len(resumed.skipped) == 4
    assert not list(folder.glob("**/*.tmp")) and not (folder / "parts").exists()
    np.testing.assert_array_equal(resumed.data, reference.data)


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


def test_a_killed_pool_run_leaves_no_workers_and_no_lock(tmp_path: Path) -> None:
    table = write_clips(tmp_path / "clips", 40)
    table.to_csv(tmp_path / "table.csv", index=False)
    folder = tmp_path / "cache"
    proc = _worker(tmp_path / "table.csv", folder, "--delay", "0.2", "--workers", "2")
    workers: list[int] = []
    try:
        _wait_for(lambda: len(_parts(folder)) >= 1 or proc.poll() is not None, "the first chunk")
        workers = _children(proc.pid)
        assert len(workers) == 2, proc.poll()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        _wait_for(lambda: not any(_running(pid) for pid in workers), "the workers to end", 10)
    finally:
        for pid in filter(_running, workers):
            os.kill(pid, signal.SIGKILL)
    with open(folder / ".lock", "a") as handle:  # raises BlockingIOError while anyone holds it
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert len(prepare(table, folder).data) == 36


def test_two_processes_preparing_one_folder_build_it_once(tmp_path: Path) -> None:
    table = write_clips(tmp_path / "clips", 20)
    table.to_csv(tmp_path / "table.csv", index=False)
    folder, log = tmp_path / "cache", tmp_path / "calls.log"
    ready, go = [tmp_path / f"ready{i}" for i in (1, 2)], [tmp_path / f"go{i}" for i in (1, 2)]
    procs = [
        _worker(tmp_path / "table.csv", folder, "--delay", str(delay), "--log", str(log),
                "--ready", str(ready[i]), "--go", str(go[i]))
        for i, delay in enumerate((0.1, 0.0))
    ]
    try:  # both imported; the first starts; once it is building, the second must find it locked
        _wait_for(lambda: all(r.exists() for r in ready) or any(p.poll() is not None for p in procs),
                  "both processes to start")
        go[0].touch()
        _wait_for(lambda: len(_parts(folder)) >= 1 or procs[0].poll() is not None, "the first chunk")
        go[1].touch()
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    first, second = procs
    assert [proc.returncode for proc in (first, second)] == [0, 0], outputs
    assert "waiting for another process" in outputs[1][0]
    assert outputs[0][0].splitlines()[-1] == outputs[1][0].splitlines()[-1] == "rows=18 skipped=2"
    pids = log.read_text().split()
    assert len(pids) == 20 and set(pids) == {str(first.pid)}, "only the first process loads files"
    assert (folder / "complete.json").exists() and not (folder / "parts").exists()
