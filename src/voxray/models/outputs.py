"""One evaluation epoch's per-example outputs, gathered over processes with each example once."""

from __future__ import annotations

import lightning as L
import torch


def first_occurrences(index: torch.Tensor) -> torch.Tensor:
    """Positions of the first occurrence of each distinct value of `index`, in ascending value order.

    Args:
        index: (N,) example ids, possibly repeated.
    Returns:
        (U,) positions into `index`; `index[result]` is sorted and unique.
    """
    values, inverse = torch.unique(index, return_inverse=True)
    positions = torch.arange(len(index), device=index.device)
    first = torch.full((len(values),), len(index), dtype=positions.dtype, device=index.device)
    return first.scatter_reduce(0, inverse, positions, reduce="amin")


class EpochOutputs:
    """Collects (dataset position, probabilities, target, weighted loss, loss weight) per batch.

    A `DistributedSampler` pads validation and test so every process gets equal batches: the
    padded examples are repeats. Metrics, the threshold and the bootstrap are computed once per
    epoch from `gather()`, which keeps each dataset position exactly once.
    """

    def __init__(self) -> None:
        self.parts: list[tuple[torch.Tensor, ...]] = []

    def add(self, index: torch.Tensor, probs: torch.Tensor, targets: torch.Tensor,
            losses: torch.Tensor, weights: torch.Tensor) -> None:
        """One batch: index (B,), probs (B, k), targets (B,) or (B, n_tasks), per-example loss and its
        weight (B,) or (B, n_tasks)."""
        self.parts.append((index.detach(), probs.detach().float(), targets.detach(), losses.detach().float(),
                           weights.detach().float()))

    def reset(self) -> None:
        self.parts = []

    def gather(self, module: L.LightningModule) -> dict[str, torch.Tensor]:
        """All processes' outputs on CPU, each example once, sorted by dataset position.

        Returns index (N,), probs (N, k), targets (N,) or (N, n_tasks), and loss: the weighted mean
        over those examples (as `F.cross_entropy`'s mean with class weights), summed over tasks.
        """
        names = ("index", "probs", "targets", "losses", "weights")
        local = [torch.cat(column) for column in zip(*self.parts)]
        self.reset()
        if module.trainer.world_size > 1:
            local = _equal_lengths(local, module)
        # single process: unchanged; several: (world, n, ...) -> (world * n, ...)
        gathered = [module.all_gather(t) for t in local]
        if module.trainer.world_size > 1:
            gathered = [g.flatten(0, 1) for g in gathered]
        out = dict(zip(names, (g.cpu() for g in gathered)))
        out = {k: v[out["index"] >= 0] for k, v in out.items()}
        keep = first_occurrences(out["index"])
        out = {k: v[keep] for k, v in out.items()}
        out["loss"] = (out.pop("losses").sum(dim=0) / out.pop("weights").sum(dim=0).clamp(min=1e-12)).sum()
        return out


def _equal_lengths(local: list[torch.Tensor], module: L.LightningModule) -> list[torch.Tensor]:
    """This process's columns padded to the longest process's rows, position -1 marking padding.

    A DistributedSampler gives every process equal counts; a stream does not (`data.stream`: every
    example once, unequal shares, none at all for a process when a split has fewer rows than its
    batches), and the gather needs equal shapes. A process without rows takes the columns' shapes
    from one that has them."""
    mine = (len(local[0]), [(tuple(t.shape[1:]), t.dtype) for t in local]) if local else None
    every: list = [None] * module.trainer.world_size
    torch.distributed.all_gather_object(every, mine)
    longest = max(n for n, _ in filter(None, every))
    if not local:
        _, columns = next(filter(None, every))
        local = [torch.empty((0, *shape), dtype=dtype, device=module.device) for shape, dtype in columns]
    return [torch.cat([t, t.new_full((longest - len(t), *t.shape[1:]), -1 if k == 0 else 0)])
            for k, t in enumerate(local)]
