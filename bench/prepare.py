"""The one-time preparation step: files -> the store, through `voxray.data.store.prepare_store`.

    uv run python bench/prepare.py                          # 256 clips, 128 films; 1 process and every core
    uv run python bench/prepare.py --clips 32 --images 16 --workers 1

Voice: 48-kHz MP3 files (as Common Voice ships them) decoded, resampled to 16 kHz, trimmed and cut to
3 s (`load_clip`), with and without noise reduction (`data.clean.denoise`). X-ray: JPEG films about
`--source-px` wide decoded and letterboxed to 256 px (`load_xray_row`). Each figure is a whole cold
preparation, part files and the store's completion included. Prints a table and appends it to bench/results.md.
"""

from __future__ import annotations

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


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--clips", type=int, default=256)
    p.add_argument("--seconds", type=float, default=4.0, help="speech per clip, plus 0.5 s of silence each side")
    p.add_argument("--images", type=int, default=128)
    p.add_argument("--source-px", type=int, default=1024, help="X-ray files' width (Kermany's are 1-2k px)")
    p.add_argument("--workers", type=int, nargs="+", default=sorted({1, cores()}),
                   help="preparing processes (0: in this process)")
    args = p.parse_args()
    lines = ["| input | step | processes | files/s | files/s per process |", "| --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = write_audio(folder / "clips", args.clips, args.seconds)
        films = write_films(folder / "films", args.images, args.source_px)
        jobs = [(f"{args.clips} MP3 48 kHz, {args.seconds + 1:g} s", f"decode + resample + trim{name}", clips,
                 partial(load_clip, params=CleanParams(denoise=denoise)), (CleanParams().length,), "int16")
                for name, denoise in ((" + noise reduction", True), ("", False))]
        jobs.append((f"{args.images} JPEG ~{args.source_px} px", "decode + letterbox to 256", films,
                     partial(load_xray_row, size=256), (256, 256), "uint8"))
        for n, (what, step, paths, load, shape, dtype) in enumerate(jobs):
            for workers in args.workers:
                rate = prepared_per_s(paths, load, shape, dtype, folder / f"cache-{n}-{workers}", workers)
                lines.append(f"| {what} | {step} | {workers} | {figure(rate)} | {figure(rate / max(workers, 1))} |")
    lines += ["", f"Processes share {cores()} cores; {load_line()}."]
    table = "\n".join(lines)
    print(table)
    append_results("Preparation", table, args.results)


if __name__ == "__main__":
    main()
