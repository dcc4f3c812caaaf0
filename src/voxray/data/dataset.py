"""What a DataModule serves: the `Plan` of what to prepare, and `ArrayDataset`, the rows of the
prepared array with their labels, read a whole batch at a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset


@dataclass
class Plan:
    """What to prepare: `table` has path, label (int), label_name, split, group columns (and for a
    joint model `label/<task>`, `label_name/<task>` per task, label naming their combination)."""

    table: pd.DataFrame
    load: Callable  # picklable path -> array (or (array, extras))
    shape: tuple[int, ...]
    dtype: str
    key_parts: list  # everything the prepared array depends on except the file list
    group_name: str  # "speaker" / "patient", for messages
    report: dict = field(default_factory=dict)
    files: Sequence[str] | None = None  # what to prepare, if more than the table (shared caches)
    root: Path | None = None  # the data root, absolute: the store keeps paths relative to it (None: as given)


class ArrayDataset(Dataset):
    """Rows of a memory-mapped array with integer labels; returns (tensor, label, position).

    The position (index into this dataset) travels with every example so that evaluation can
    drop the duplicates a distributed sampler pads with, and find each example's group.
    Labels are (n,), or (n, n_tasks) for a joint model (-1: no label for that task); `strata`
    (n,) is the class a balanced sampler evens speakers within (the labels when None).
    """

    def __init__(self, data: np.ndarray, rows: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                 strata: np.ndarray | None = None) -> None:
        self.data, self.rows, self.labels, self.groups = data, rows, labels, groups
        self.strata = labels if strata is None else strata

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int | torch.Tensor, int]:
        # np.array copies out of the memmap: the batch must not pin the mapped pages
        label = int(self.labels[i]) if self.labels.ndim == 1 else torch.from_numpy(self.labels[i]).long()
        return torch.from_numpy(np.array(self.data[self.rows[i]])), label, i

    def __getitems__(self, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A whole batch in one sorted fancy-indexed read of the memmap (the DataLoader calls this
        instead of `__getitem__` per example); returned in row order, ready as a batch."""
        positions = np.asarray(positions)
        positions = positions[np.argsort(self.rows[positions], kind="stable")]  # sequential reads
        x = torch.from_numpy(self.data[self.rows[positions]])  # fancy indexing copies: (B, *shape)
        return x, torch.from_numpy(self.labels[positions]).long(), torch.from_numpy(positions)


def as_batch(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """The DataLoader's collate function: `ArrayDataset.__getitems__` returns a finished batch."""
    return batch


def group_ids(groups: pd.Series) -> np.ndarray:
    """Group ids as text, (n,) object: speaker ids saved as categories share one string per speaker."""
    if isinstance(groups.dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(groups.cat.categories):
        return np.asarray(groups.cat.categories, dtype=object)[groups.cat.codes.to_numpy()]
    return groups.astype(str).to_numpy()
