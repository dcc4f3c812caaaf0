"""Two-process gloo groups for tests: run a function on every rank of a CPU process group."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.multiprocessing as mp
from lightning.fabric.utilities.distributed import _all_gather_ddp_if_available


class GatherModule:
    """What `EpochOutputs.gather` asks of a LightningModule under DDP: Lightning's own all_gather."""

    device = torch.device("cpu")

    def __init__(self, world_size: int) -> None:
        self.trainer = SimpleNamespace(world_size=world_size)

    @staticmethod
    def all_gather(t: torch.Tensor) -> torch.Tensor:
        return _all_gather_ddp_if_available(t)


def _entry(rank: int, world: int, init: str, fn: Callable, args: tuple) -> None:
    # a spawned child would spawn its loader workers too (seconds of imports each); Lightning's DDP
    # ranks are fresh interpreters, whose workers fork
    multiprocessing.set_start_method("fork", force=True)
    torch.distributed.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    try:
        fn(rank, world, *args)
    finally:
        torch.distributed.destroy_process_group()


def run_ranks(fn: Callable, args: tuple, tmp: Path, world: int = 2, timeout_s: float = 120) -> None:
    """`fn(rank, world, *args)` in `world` spawned processes of one gloo group; fails on an error in
    any of them, or when they have not finished in `timeout_s` (a collective that hangs)."""
    context = mp.start_processes(_entry, args=(world, str(tmp / "gloo-init"), fn, args), nprocs=world,
                                 join=False, start_method="spawn")
    deadline = time.monotonic() + timeout_s
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            raise AssertionError(f"the {world} processes did not finish in {timeout_s:.0f} s (a collective hung)")
