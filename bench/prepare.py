"""The one-time preparation step: files -> the store, through `voxray.data.store.prepare_store`.

    uv run python bench/prepare.py                          # 256 clips, 128 films; 1 process and every core
    uv run python bench/prepare.py --clips 32 --images 16 --workers 1
    uv run python bench/prepare.py --tasks 2 --images 0     # + the store built by 2 tasks (part=K of=2)

Voice: 48-kHz MP3 files (as Common Voice ships them) decoded, resampled to 16 kHz, trimmed and cut to
3 s (`load_clip`), with and without noise reduction (`data.clean.denoise`). X-ray: JPEG films about
`--source-px` wide decoded and letterboxed to 256 px (`load_xray_row`). Each figure is a whole cold
preparation, part files and the store's completion included. `--tasks N` adds the same store built
by N processes, each preparing its own parts in-process as `prepare.py part=K of=N` tasks do.
Prints a table and appends it to bench/results.md.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from functools import partial
from pathlib import Path

import pandas as pd

from voxray.data.store import prepare_store
from voxray.data.voice.audio import CleanParams, load_clip
from voxray.data.xray.datamodule import load_xray_row

from common import cores, figure, load_line, parser, write_audio, write_films
from record import append_results  # the script's folder is on sys.path


def prepared_per_s(paths: list[str], load: partial, shape: tuple[int, ...], dtype: str, folder: Path,
                   workers: int) -> float:
    """Files per second of one cold `prepare_store` run into `folder`."""
    start = time.perf_counter()
    out = prepare_store(pd.DataFrame({"path": paths}), load, shape, dtype, folder, num_workers=workers,
                        desc=folder.name)
    if len(out.data) != len(paths):
        raise RuntimeError(f"{len(out.skipped)} of {len(paths)} files were skipped: {out.skipped.reason.iloc[0]}")
    return len(paths) / (time.perf_counter() - start)


def _task(paths: list[str], load: partial, shape: tuple[int, ...], dtype: str, folder: Path, k: int, n: int,
          part_size: int) -> None:
    prepare_store(pd.DataFrame({"path": paths}), load, shape, dtype, folder, num_workers=0, desc=f"task {k}",
                  part_size=part_size, task=(k, n))


def tasks_per_s(paths: list[str], load: partial, shape: tuple[int, ...], dtype: str, folder: Path,
                tasks: int) -> float:
    """Files per second of `tasks` processes building one store, each its own parts (8 parts per task)."""
    part_size = max(1, len(paths) // (8 * tasks))
    start = time.perf_counter()
    procs = [multiprocessing.Process(target=_task, args=(paths, load, shape, dtype, folder, k, tasks, part_size))
             for k in range(tasks)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    if any(proc.exitcode for proc in procs):
        raise RuntimeError(f"a task failed: exit codes {[proc.exitcode for proc in procs]}")
    out = prepare_store(pd.DataFrame({"path": paths}), load, shape, dtype, folder, part_size=part_size)
    if len(out.data) != len(paths):
        raise RuntimeError(f"{len(out.skipped)} of {len(paths)} files were skipped")
    return len(paths) / (time.perf_counter() - start)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--clips", type=int, default=256)
    p.add_argument("--seconds", type=float, default=4.0, help="speech per clip, plus 0.5 s of silence each side")
    p.add_argument("--images", type=int, default=128)
    p.add_argument("--source-px", type=int, default=1024, help="X-ray files' width (Kermany's are 1-2k px)")
    p.add_argument("--workers", type=int, nargs="+", default=sorted({1, cores()}),
                   help="preparing processes (0: in this process)")
    p.add_argument("--tasks", type=int, nargs="*", default=[],
                   help="also build the store with this many independent tasks (part=K of=N)")
    args = p.parse_args()
    lines = ["| input | step | processes | files/s | files/s per process |", "| --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = write_audio(folder / "clips", args.clips, args.seconds)
        films = write_films(folder / "films", args.images, args.source_px)
        jobs = [(f"{args.clips} MP3 48 kHz, {args.seconds + 1:g} s", f"decode + resample + trim{name}", clips,
                 partial(load_clip, params=CleanParams(denoise=denoise)), (CleanParams().length,), "int16")
                for name, denoise in ((" + noise reduction", True), ("", False))]
        if args.images:
            jobs.append((f"{args.images} JPEG ~{args.source_px} px", "decode + letterbox to 256", films,
                         partial(load_xray_row, size=256), (256, 256), "uint8"))
        for n, (what, step, paths, load, shape, dtype) in enumerate(jobs):
            for workers in args.workers:
                rate = prepared_per_s(paths, load, shape, dtype, folder / f"cache-{n}-{workers}", workers)
                lines.append(f"| {what} | {step} | {workers} | {figure(rate)} | {figure(rate / max(workers, 1))} |")
            for tasks in args.tasks:
                rate = tasks_per_s(paths, load, shape, dtype, folder / f"tasks-{n}-{tasks}", tasks)
                lines.append(f"| {what} | {step} | {tasks} tasks | {figure(rate)} | {figure(rate / tasks)} |")
    lines += ["", f"Processes share {cores()} cores; {load_line()}."]
    table = "\n".join(lines)
    print(table)
    append_results("Preparation", table, args.results)


if __name__ == "__main__":
    main()
