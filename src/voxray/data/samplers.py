"""Training order that depends only on (seed, epoch), so a resumed epoch sees the same batches."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


def epoch_seed(seed: int, epoch: int, *more: int) -> int:
    """A 32-bit seed for one (run seed, epoch, ...) tuple, e.g. (seed, epoch, rank, batch)."""
    return int(np.random.SeedSequence([seed, epoch, *more]).generate_state(1)[0])


class EpochShuffle(Sampler[int]):
    """A fresh permutation of `range(n)` every epoch, seeded by (seed, epoch).

    PyTorch's `RandomSampler` draws its seed from the global generator when an epoch starts, whose
    state depends on everything drawn before (and on whether the loader's workers were just
    started), so an epoch after a resume would be shuffled differently. Lightning calls
    `set_epoch` before each epoch, as it does for `DistributedSampler`.

    Args:
        n: dataset length.
        seed: the run's seed.
    """

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        return iter(torch.randperm(self.n, generator=generator).tolist())

    def __len__(self) -> int:
        return self.n
