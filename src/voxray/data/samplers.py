"""Which training rows a run uses, and their order: a seeded cap per speaker, and orders that depend
only on (seed, epoch), drawn once the epoch is set, so a resumed epoch sees the same batches."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from voxray.data.dataset import as_batch


def epoch_seed(seed: int, epoch: int, *more: int) -> int:
    """A 32-bit seed for one (run seed, epoch, ...) tuple, e.g. (seed, epoch, rank, batch)."""
    return int(np.random.SeedSequence([seed, epoch, *more]).generate_state(1)[0])


def capped_rows(table: pd.DataFrame, max_per_group: int | None, seed: int = 0) -> np.ndarray:
    """Which rows a cap of `max_per_group` train rows per group removes (val and test: none), (n,) bool.

    Args:
        table: rows with split, group and path columns, uniquely indexed.
        max_per_group: the cap (None: no row is removed).
        seed: which rows a capped group keeps depends on it.
    """
    if max_per_group is None:
        return np.zeros(len(table), dtype=bool)
    train = table[table["split"] == "train"]
    # ranked by a seeded hash of the file name, not by row order or full path: a speaker keeps the
    # same clips when other files are skipped or the dataset folder moves
    key = pd.util.hash_pandas_object(train["path"].map(os.path.basename) + f"|{seed}", index=False)
    ranked = pd.DataFrame({"group": train["group"].astype(str), "key": key, "path": train["path"]})
    ranked = ranked.sort_values(["group", "key", "path"])
    rank = ranked.groupby("group", sort=False).cumcount()
    return table.index.isin(rank.index[rank >= max_per_group])


class EpochShuffle(Sampler[int]):
    """A fresh permutation of `range(n)` every epoch, seeded by (seed, epoch).

    PyTorch's `RandomSampler` draws its seed from the global generator when an epoch starts, whose
    state depends on everything drawn before (and on whether the loader's workers were just
    started), so an epoch after a resume would be shuffled differently. Lightning calls
    `set_epoch` before each epoch, as it does for `DistributedSampler`; `EpochLoader` draws the
    order only after that call.

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


class BalancedSpeakers(Sampler[int]):
    """Draws `n` examples an epoch (with replacement) so that, within each class, every speaker
    (or X-ray patient: any group) is equally likely; seeded by (seed, epoch) like `EpochShuffle`.

    A draw picks a class in proportion to its share of the examples, then a speaker of that class
    uniformly, then one of that speaker's examples of that class uniformly. Class shares stay those
    of the examples, so the loss's class weights (computed from example counts) still balance the
    classes; only the speakers within a class are evened out.

    Args:
        labels: class of each example, (n,).
        groups: speaker / patient of each example, (n,).
        seed: the run's seed.
    """

    def __init__(self, labels: np.ndarray, groups: np.ndarray, seed: int = 0) -> None:
        self.seed, self.epoch, self.n = seed, 0, len(labels)
        group_codes, group_names = pd.factorize(np.asarray(groups))
        # one key per (class, group) pair, ordered by class first, so that sorting the examples by
        # key makes each pair one contiguous run and each class one contiguous run of pairs
        keys = np.asarray(labels, dtype=np.int64) * len(group_names) + group_codes
        pair_keys, pair_of_example, pair_size = np.unique(keys, return_inverse=True, return_counts=True)
        self.order = np.argsort(pair_of_example, kind="stable")
        self.pair_start, self.pair_size = np.cumsum(pair_size) - pair_size, pair_size
        _, self.class_first_pair, self.class_pairs = np.unique(
            pair_keys // len(group_names), return_index=True, return_counts=True
        )
        self.class_share = np.add.reduceat(pair_size, self.class_first_pair) / self.n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(epoch_seed(self.seed, self.epoch))
        c = rng.choice(len(self.class_pairs), size=self.n, p=self.class_share)
        pair = self.class_first_pair[c] + rng.integers(self.class_pairs[c])
        example = self.pair_start[pair] + rng.integers(self.pair_size[pair])
        return iter(self.order[example].tolist())

    def __len__(self) -> int:
        return self.n


class EpochLoader(DataLoader):
    """A `DataLoader` that draws an epoch's order (and starts its workers' prefetching) at the
    epoch's first batch, not when its iterator is made.

    Lightning makes the training iterator of a launch's first epoch before it calls the sampler's
    `set_epoch`; a loader with workers prefetches batches as soon as its iterator exists, so a
    resumed launch would train its first epoch in the order of epoch 0. Deferred to the first
    batch, every epoch is drawn after `set_epoch`, whatever the sampler (Lightning's
    `DistributedSampler` under DDP included).
    """

    def __iter__(self) -> Iterator:
        return StartsAtFirstBatch(super().__iter__)


class StartsAtFirstBatch(Iterator):
    """An iterator made by `start()` when its first item is asked for."""

    def __init__(self, start: Callable[[], Iterator]) -> None:
        self.start, self.iterator = start, None

    def __next__(self) -> Any:
        if self.iterator is None:
            self.iterator = self.start()
        return next(self.iterator)


def make_loader(dataset: Dataset, shuffle: bool, kind: str | None, seed: int, batch_size: int, num_workers: int,
                distributed: bool) -> DataLoader:
    """A split's DataLoader; for training (`shuffle`) in the order `kind` names ("shuffle" or
    "balanced_speakers"), drawn once Lightning has set the sampler's epoch.

    One process: an order that depends on (seed, epoch) only, so a resumed run sees the same
    batches; several: Lightning's DistributedSampler, which is seeded per epoch likewise.
    """
    sampler = None
    if shuffle and kind == "balanced_speakers":
        # under DDP Lightning wraps it in a DistributedSamplerWrapper, which forwards set_epoch:
        # every rank draws the same (seed, epoch) list and takes its share of it
        sampler = BalancedSpeakers(dataset.strata, dataset.groups, seed)
    elif shuffle and not distributed:
        sampler = EpochShuffle(len(dataset), seed)
    return (EpochLoader if shuffle else DataLoader)(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        collate_fn=as_batch,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
        drop_last=shuffle and len(dataset) > batch_size,
    )
