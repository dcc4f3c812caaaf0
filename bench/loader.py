"""The loader alone: clips/s and images/s delivered to the device, per-item reads vs one read per batch
(of a memory-mapped .npy array, and of the store's chunk files as training reads them), 0-2 workers,
beside the default voice CNN's training throughput (the model-only ceiling) on that device.

    uv run python bench/loader.py                      # 4096 clips, 2048 images, batch 64
    uv run python bench/loader.py --rows 512 --steps 2  # a quick look

Prints a table and appends it, with the date, machine, command and versions, to bench/results.md.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from voxray.data.dataset import ArrayDataset, as_batch
from voxray.data.store import prepare_store

from common import compose_model, load_line, parser, sync
from record import append_results  # the script's folder is on sys.path


class PerItem(ArrayDataset):
    """The usual way: one memmap row copied per example, stacked by the default collate."""

    __getitems__ = None  # the DataLoader then calls __getitem__ once per example


def _row_of(path: str, array: Path) -> np.ndarray:
    """The store's loader here: row i of the .npy array for the input named "i"."""
    return np.array(np.load(array, mmap_mode="r")[int(path)])


def dataset(folder: Path, rows: int, shape: tuple[int, ...], dtype: str, kind: str) -> ArrayDataset:
    """`rows` random rows of `shape`: a memory-mapped .npy array ("per item", "batch"), or the same
    rows in a store ("store"), read as training reads it."""
    path = folder / f"{dtype}-{rows}.npy"
    if not path.exists():
        array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(rows, *shape))
        array[:] = np.random.default_rng(0).integers(0, 127, size=(rows, *shape), dtype=dtype)
        array.flush()
    data = np.load(path, mmap_mode="r")
    if kind == "store":
        names = pd.DataFrame({"path": [str(i) for i in range(rows)]})
        data = prepare_store(names, partial(_row_of, array=path), shape, dtype, folder / f"store-{dtype}-{rows}",
                             num_workers=0, desc="store").data
    dataset_class = PerItem if kind == "per item" else ArrayDataset
    return dataset_class(data, np.arange(rows), np.zeros(rows, dtype=np.int64), np.zeros(rows).astype(str))


def delivered_per_s(ds: ArrayDataset, batched: bool, workers: int, batch: int, device: torch.device) -> float:
    """Examples per second through a shuffled DataLoader onto `device`, one full pass after a warm-up batch."""
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                        collate_fn=as_batch if batched else None, persistent_workers=workers > 0,
                        pin_memory=device.type == "cuda")
    next(iter(loader))  # start the workers, page the file in
    return examples_per_s(loader, device)


def examples_per_s(batches: Iterable, device: torch.device) -> float:
    """Examples per second of (x, label, position) `batches` moved onto `device`, to the last one."""
    start, n = time.perf_counter(), 0
    for x, _, _ in batches:
        x.to(device, non_blocking=True)
        n += len(x)
    sync(device)
    return n / (time.perf_counter() - start)


def model_ceiling(steps: int, batch: int, device: torch.device) -> float:
    """Clips/s of one training step of the default voice model (`experiment=voice_mel`, fp32) on
    ready-made device tensors: front end, CNN, loss, backward, optimizer step."""
    model, cfg = compose_model("voice_mel")
    model = model.to(device).train()
    optimizer = model.optimizer_fn(params=model.parameters())
    wave = torch.randint(-8000, 8000, (batch, int(cfg.data.clean.sample_rate * cfg.data.clean.clip_seconds)),
                         dtype=torch.int16, device=device)
    y = torch.randint(0, len(model.class_names), (batch,), device=device)

    def step() -> None:
        optimizer.zero_grad()
        model._loss(model(wave), y).backward()
        optimizer.step()

    step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=4096, help="clips in the cache (images: half)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=10, help="training steps timed for the model ceiling")
    args = p.parse_args()
    device = torch.device(args.device)
    lines = [f"| data | workers | .npy per item → {device.type} (/s) | .npy one read per batch (/s) | "
             "store one read per batch (/s) | batch / item | store / .npy |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    best_clips = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, rows, shape, dtype in (("3-s clips int16", args.rows, (48000,), "int16"),
                                         ("256-px images uint8", args.rows // 2, (256, 256), "uint8")):
            for workers in args.workers:
                rates = [delivered_per_s(dataset(Path(tmp), rows, shape, dtype, kind), kind != "per item", workers,
                                         args.batch, device)
                         for kind in ("per item", "batch", "store")]
                if dtype == "int16":
                    best_clips = max(best_clips, rates[2])
                lines.append(f"| {name} | {workers} | {rates[0]:,.0f} | {rates[1]:,.0f} | {rates[2]:,.0f} | "
                             f"{rates[1] / rates[0]:.1f}x | {rates[2] / rates[1]:.2f} |")
    finish("Loader alone", lines, "the store's batched loader", best_clips, args, device)


def finish(title: str, lines: list[str], fastest: str, best: float, args, device: torch.device,  # noqa: ANN001
           note: str = "") -> None:
    """The table's closing line (the model-only ceiling, and `fastest`'s `best` clips/s as a multiple
    of it), printed and appended to the results file under `title`."""
    ceiling = model_ceiling(args.steps, args.batch, device)
    lines += ["", f"Default voice CNN, one training step on ready tensors (the ceiling): {ceiling:,.1f} clips/s; "
                  f"{fastest} delivers {best / ceiling:,.0f}x that; {note}{load_line()}."]
    table = "\n".join(lines)
    print(table)
    append_results(title, table, args.results, f"numpy {np.__version__}")


if __name__ == "__main__":
    main()
