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
        # single process: unchanged; several: (world, n, ...) -> (world * n, ...)
        gathered = [module.all_gather(t) for t in local]
        if module.trainer.world_size > 1:
            gathered = [g.flatten(0, 1) for g in gathered]
        out = dict(zip(names, (g.cpu() for g in gathered)))
        keep = first_occurrences(out["index"])
        out = {k: v[keep] for k, v in out.items()}
        out["loss"] = (out.pop("losses").sum(dim=0) / out.pop("weights").sum(dim=0).clamp(min=1e-12)).sum()
        return out
