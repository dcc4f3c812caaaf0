"""The streaming reader alone (`data.stream=true`): clips/s delivered by litdata's StreamingDataLoader
from a split's copy on the local disk and on an S3-compatible server, per worker and per process,
beside the default voice CNN's training step (the model-only ceiling) and the store's random access.

    uv run python bench/stream.py                          # 4096 3-s clips, batch 64, 0-2 workers
    uv run python bench/stream.py --rows 1024 --steps 2    # a quick look
    uv run python bench/stream.py --uri s3://bucket/prefix --endpoint-url https://...   # your own store

Without --uri the object store is moto's server on 127.0.0.1 (the tests' stand-in): it measures the
reader's own cost over HTTP, not a network. Prints a table and appends it, with the date, machine,
command and versions, to bench/results.md.
"""

from __future__ import annotations

import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from voxray.data.store.stream import StreamSplit, stream_loader
from voxray.data.store.views import upload_views, write_views

from common import parser  # the script's folder is on sys.path
from loader import dataset, delivered_per_s, examples_per_s, finish

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: the tests' S3 stand-in
from tests.helpers.s3 import local_s3  # noqa: E402


def streamed_per_s(uri: str, rows: int, workers: int, batch: int, device: torch.device, cache: Path,
                   options: dict | None) -> float:
    """Clips per second over one shuffled epoch of the split's copy at `uri`, after the first batch
    (workers started, first chunk read); downloads go to `cache`, a folder of this call's own."""
    split = StreamSplit(uri, np.zeros(rows, dtype=np.int64), (48000,), "int16", train=True, seed=0,
                        cache_dir=str(cache) if options is not None else None, storage_options=options)
    iterator = iter(stream_loader(split, batch, workers))
    next(iterator)
    return examples_per_s(iterator, device)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=4096, help="3-s clips in the split")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=10, help="training steps timed for the model ceiling")
    p.add_argument("--uri", help="object storage to upload the copy to and stream from (default: a local stand-in)")
    p.add_argument("--endpoint-url", help="the object store's endpoint, for an S3-compatible server")
    args = p.parse_args()
    device = torch.device(args.device)
    lines = ["| reader | workers | clips/s | per worker | vs the store's random access |",
             "| --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp, (nullcontext(None) if args.uri else local_s3()) as standin:
        tmp = Path(tmp)
        store = dataset(tmp, args.rows, (48000,), "int16", "store")
        views = write_views(store.data, {"train": np.random.default_rng(0).permutation(args.rows)}, tmp / "views")
        uri = args.uri or f"{standin['uri']}/bench"
        options = {"endpoint_url": args.endpoint_url} if args.endpoint_url else (standin or {}).get("options", {})
        upload_views(views, uri, options)
        best = 0.0
        for workers in args.workers:
            random_access = delivered_per_s(store, True, workers, args.batch, device)
            for name, where, opts in (("stream, local disk", str(views / "train"), None),
                                      ("stream, object storage" + ("" if args.uri else " (local stand-in)"),
                                       f"{uri}/train", options)):
                rate = streamed_per_s(where, args.rows, workers, args.batch, device, tmp / f"cache-{workers}", opts)
                best = max(best, rate)
                lines.append(f"| {name} | {workers} | {rate:,.0f} | {rate / max(workers, 1):,.0f} | "
                             f"{rate / random_access:.2f} |")
            lines.append(f"| store, random access | {workers} | {random_access:,.0f} | "
                         f"{random_access / max(workers, 1):,.0f} | 1.00 |")
    finish("Streaming reader", lines, "the fastest stream", best, args, device,
           f"{args.rows} clips, batch {args.batch}; ")

if __name__ == "__main__":
    main()
