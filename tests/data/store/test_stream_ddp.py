"""Two gloo processes write a split's stream once and read it (2 loader workers each), stepping
together as DDP's forward needs: every validation/test example is counted exactly once after the
gather, also when the processes get unequal shares or one gets none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tests.helpers.ddp import GatherModule, run_ranks
from voxray.data.store import prepare_store
from voxray.data.store.views import write_views

SHAPE = (6,)


def _load(path: str) -> np.ndarray:
    return np.load(path)


def _read_splits(rank: int, world: int, cases: list[tuple[str, np.ndarray, str]]) -> None:
    from voxray.data.store import open_rows
    from voxray.data.store.stream import EqualSteps, StreamSplit, stream_loader
    from voxray.models.outputs import EpochOutputs

    for folder, labels, out in cases:
        if rank == 0:  # as Lightning's prepare_data: the copy written by one process of the group
            write_views(open_rows(Path(folder) / "store"), {"val": np.arange(len(labels))}, Path(folder) / "views")
        torch.distributed.barrier()
        view = str(Path(folder) / "views" / "val")
        stream = stream_loader(StreamSplit(view, labels, SHAPE, "int16", train=False, seed=0), batch_size=4,
                               num_workers=2)
        loader = EqualSteps(stream, len(labels), _any_rank)
        outputs = EpochOutputs()
        for x, y, position in loader:
            torch.distributed.broadcast(torch.zeros(1), 0)  # as DDP's forward does with its buffers: in step
            kept = position >= 0  # padding, for ranks whose own batches ran out
            assert (x[kept, 0] == position[kept]).all(), "each row carries its own position"
            outputs.add(position, torch.nn.functional.one_hot(y, 3).float(), y, torch.ones(len(y)),
                        torch.ones(len(y)))
        if not (torch.cat([p[0] for p in outputs.parts]) >= 0).any():
            Path(f"{out}.empty{rank}").touch()
        gathered = outputs.gather(GatherModule(world))
        if rank == 0:
            torch.save({k: v for k, v in gathered.items() if k != "loss"}, out)


def _any_rank(decision: bool) -> bool:
    flag = torch.tensor(int(decision))
    torch.distributed.all_reduce(flag)
    return bool(flag > 0)


def _store(folder: Path, n: int) -> Path:
    """A store of n rows (row i all i) in `folder`/store."""
    folder.mkdir()
    for i in range(n):
        np.save(folder / f"{i}.npy", np.full(SHAPE, i, dtype=np.int16))
    paths = [str(folder / f"{i}.npy") for i in range(n)]
    prepare_store(pd.DataFrame({"path": paths}), _load, SHAPE, "int16", folder / "store", num_workers=0)
    return folder


def test_two_processes_count_every_streamed_example_once(tmp_path: Path) -> None:
    sizes = {"unequal shares": 13, "one rank without rows": 3}
    cases = [(str(_store(tmp_path / name, n)), np.arange(n) % 3, str(tmp_path / f"{name}.pt"))
             for name, n in sizes.items()]
    run_ranks(_read_splits, (cases,), tmp_path)  # one pair of processes for both cases: each start costs
    for (name, n), (_, labels, out) in zip(sizes.items(), cases):
        gathered = torch.load(out, weights_only=True)
        assert gathered["index"].tolist() == list(range(n)), f"{name}: every example exactly once, in order"
        assert gathered["targets"].tolist() == labels.tolist(), name
        assert (n == 3) == any(tmp_path.glob(f"{name}.pt.empty*")), f"{name}: a rank without rows iff n < batches"
