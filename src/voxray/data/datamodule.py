"""A LightningDataModule over a prepared array cache; voice and X-ray only describe their inputs."""

from __future__ import annotations

import json
import logging
import shutil
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch.utils.data import DataLoader, Dataset

from voxray.data.cache import PreparedArray, cache_key, prepare_array
from voxray.data.samplers import BalancedSpeakers, EpochLoader, EpochShuffle, capped_rows
from voxray.data.splits import SPLITS, check_group_disjoint
from voxray.data.summary import group_check, group_sizes, groups_report, per_class

SAMPLERS = ("shuffle", "balanced_speakers")
log = logging.getLogger(__name__)


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


class ArrayDataModule(L.LightningDataModule):
    """Plans inputs (subclass), prepares them once into a cache, serves train/val/test loaders.

    Args:
        root: the dataset folder; None = the embedded synthetic set, generated into the cache.
        synthetic: arguments of the synthetic set's builder (part of its cache key).
        classes: ordered class names; label ints index this list. A mapping task -> class names
            for a joint model: labels come from the `label/<task>` columns.
        cache_dir: where prepared arrays (and generated default corpora) live.
        report_dir: the run folder; the data report and skip list are written there.
        batch_size: per-device batch size.
        num_workers: DataLoader workers (the same number prepares the cache; 0 = in-process).
        seed: the training order's seed (each epoch's shuffle depends on it and the epoch only).
        max_skip_fraction: stop when more than this share of the files cannot be prepared (0.05;
            None: never); the finished cache stays, so a rerun with a higher limit does no work.
        max_clips_per_speaker: keep at most this many training rows per group (speaker; for X-ray
            the patient), a seeded choice; val and test keep every row (None: no cap).
        sampler: the training order, one of `SAMPLERS`: "shuffle" (each row once an epoch) or
            "balanced_speakers" (speakers equally likely within each class, see `BalancedSpeakers`).
    """

    def __init__(
        self,
        root: str | None,
        classes: Sequence[str] | Mapping[str, Sequence[str]],
        cache_dir: str,
        report_dir: str | None = None,
        batch_size: int = 64,
        num_workers: int = 2,
        synthetic: dict | None = None,
        seed: int = 0,
        max_skip_fraction: float | None = 0.05,
        max_clips_per_speaker: int | None = None,
        sampler: str = "shuffle",
    ) -> None:
        super().__init__()
        # bool is an int to Python, but `true` is no count
        valid_cap = isinstance(max_clips_per_speaker, int) and not isinstance(max_clips_per_speaker, bool)
        if max_clips_per_speaker is not None and not (valid_cap and max_clips_per_speaker > 0):
            raise ValueError(
                f"data.max_clips_per_speaker must be a positive integer or null, got {max_clips_per_speaker!r}"
            )
        if sampler not in SAMPLERS:
            raise ValueError(f"data.sampler must be one of {SAMPLERS}, got {sampler!r}")
        self.max_clips_per_speaker, self.sampler = max_clips_per_speaker, sampler
        self.seed, self.max_skip_fraction = seed, max_skip_fraction
        self.root = root
        self.synthetic = dict(synthetic or {})
        self.classes = {t: list(c) for t, c in classes.items()} if isinstance(classes, Mapping) else list(classes)
        self.cache_dir = Path(cache_dir)
        self.report_dir = Path(report_dir) if report_dir else None
        self.batch_size = batch_size
        self.num_workers = num_workers
        self._plan: Plan | None = None
        self.table: pd.DataFrame | None = None  # planned rows that prepared, with a `row` column
        self.capped: pd.DataFrame | None = None  # train rows that prepared but the cap removed
        self.datasets: dict[str, ArrayDataset] = {}

    # Part of the embedded set's cache key beside its settings: bump it when the builder's output
    # changes, so that no corpus generated by older code is reused.
    synthetic_version = "1"

    @property
    def tasks(self) -> list[str] | None:
        """The tasks of a joint model (one `label/<task>` column each), None for one class list."""
        return list(self.classes) if isinstance(self.classes, dict) else None

    def labels(self, part: pd.DataFrame) -> np.ndarray:
        """The rows' labels: (n,), or (n, n_tasks) with -1 for a missing label (joint model)."""
        if self.tasks:
            return part[[f"label/{t}" for t in self.tasks]].to_numpy(dtype=np.int64)
        return part["label"].to_numpy()

    @property
    def group_name(self) -> str:
        """What a group is in this data: "speaker", "patient"."""
        return self._get_plan().group_name

    @abstractmethod
    def build_synthetic(self, folder: Path) -> Path:
        """Generate the embedded default dataset into `folder` (once); return the folder to read."""

    def corpus_root(self) -> Path:
        """The dataset to read: `root`, or the embedded synthetic set (built on first use)."""
        if self.root is not None:
            return Path(self.root).expanduser()
        name = type(self).__name__.removesuffix("DataModule").lower()
        key = cache_key(self.synthetic, self.synthetic_version)
        return self.build_synthetic(self.cache_dir / f"synthetic-{name}-{key}")

    @abstractmethod
    def loader(self) -> Callable:
        """The picklable per-file preparation `path -> array | (array, extras)` (also used by predict)."""

    @abstractmethod
    def example_input(self, batch: int = 2) -> torch.Tensor:
        """Random raw inputs (batch, ...) of the prepared rows' shape and dtype: what the model takes."""

    @abstractmethod
    def preparation(self) -> dict:
        """What `loader()` does to a file before the model, step by step (export's model.json)."""

    @abstractmethod
    def plan(self) -> Plan:
        """Read the inputs into a labelled, split table (building a default corpus if needed)."""

    def _get_plan(self) -> Plan:
        if self._plan is None:
            self._plan = self.plan()
            check_group_disjoint(
                self._plan.table["split"], self._plan.table["group"], self._plan.group_name
            )
        return self._plan

    def _prepare(self) -> PreparedArray:
        plan = self._get_plan()
        files = sorted(set(plan.table["path"]).union(plan.files or []))
        # size + mtime stand in for content: hashing every audio file would cost a full read
        stats = [(p, *_stat(p)) for p in files]
        folder = self.cache_dir / "prepared" / cache_key(stats, plan.key_parts, plan.shape, plan.dtype)
        return prepare_array(
            pd.DataFrame({"path": files}), plan.load, plan.shape, plan.dtype, folder,
            num_workers=self.num_workers, desc=f"preparing {type(self).__name__}",
            max_skip_fraction=self.max_skip_fraction,
        )

    def prepare_data(self) -> None:
        self._prepare()

    def setup(self, stage: str | None = None) -> None:
        if self.table is not None:
            return
        plan, prepared = self._get_plan(), self._prepare()
        rows = prepared.index.copy()
        rows["row"] = np.arange(len(rows))
        table = plan.table.merge(rows, on="path", how="inner", validate="many_to_one")
        # capped after preparation, so that a skipped file does not count against its speaker
        capped = capped_rows(table, self.max_clips_per_speaker, self.seed)
        self.capped, table = table[capped], table[~capped].reset_index(drop=True)
        self.data, self.table = prepared.data, table
        plan.report.update(self.check_prepared(table))
        for split in SPLITS:
            part = table[table["split"] == split]
            self.datasets[split] = ArrayDataset(
                prepared.data, part["row"].to_numpy(), self.labels(part), part["group"].astype(str).to_numpy(),
                strata=part["label"].to_numpy(),
            )
        if len(self.datasets["train"]) == 0:
            raise ValueError(
                f"no training rows left after preparation; see {prepared.folder / 'skipped.csv'}"
            )
        self._report(plan, prepared, table)

    def check_prepared(self, table: pd.DataFrame) -> dict:
        """Checks that need the prepared rows (e.g. duplicate images); returns report entries."""
        return {}

    def class_counts(self, split: str = "train") -> np.ndarray | dict[str, np.ndarray]:
        """Rows per class in a split, (k,), or per task {task: (k_task,)} over the rows carrying
        that task's label; the class weights of the loss come from these."""
        part = self.table[self.table["split"] == split]
        if not self.tasks:
            return np.bincount(part["label"].to_numpy(), minlength=len(self.classes))
        counts = {}
        for task, classes in self.classes.items():
            labels = part[f"label/{task}"].to_numpy()
            counts[task] = np.bincount(labels[labels >= 0], minlength=len(classes))
        return counts

    def _report(self, plan: Plan, prepared: PreparedArray, table: pd.DataFrame) -> None:
        report = {
            **plan.report,
            "skipped_files": len(prepared.skipped),
            "skipped_list": str(prepared.folder / "skipped.csv"),
            "rows": {s: int((table["split"] == s).sum()) for s in SPLITS},
            f"{plan.group_name}s": {
                s: int(table.loc[table["split"] == s, "group"].nunique()) for s in SPLITS
            },
            "per_class": per_class(table, "label_name"),
            f"rows_per_{plan.group_name}": {
                s: group_sizes(table.loc[table["split"] == s, "group"], plan.group_name) for s in SPLITS
            },
        }
        if self.tasks:  # per task, over the rows that carry its label; "per_class" holds the combinations
            report["per_class_of_task"] = {t: per_class(table[table[f"label/{t}"] >= 0], f"label_name/{t}")
                                           for t in self.tasks}
        report.update(groups_report(table, self.tasks, plan.group_name))
        capped = ""
        if self.max_clips_per_speaker is not None:
            report["cap"] = {"max_clips_per_speaker": self.max_clips_per_speaker,
                             "train_rows_removed": len(self.capped),
                             f"{plan.group_name}s_capped": self.capped["group"].nunique()}
            capped = (f"; the cap of {self.max_clips_per_speaker} per {plan.group_name} removed "
                      f"{len(self.capped)} train rows of {self.capped['group'].nunique()} {plan.group_name}s")
        rank_zero_info(
            f"data: {report['rows']} clips/images per split; {len(prepared.skipped)} files skipped "
            f"(see skipped.csv); excluded by label: {plan.report.get('excluded', {})}{capped}"
        )
        report["group_check"] = group_check(table["group"], plan.group_name)
        if report["group_check"].startswith("vacuous"):
            rank_zero_warn(f"{plan.group_name}-disjoint split: {report['group_check']}")
        if f"few_{plan.group_name}s" in report and self.trainer_is_rank_zero():
            log.warning(report[f"few_{plan.group_name}s"])  # in <run>/train.log too
        if self.report_dir is not None and self.trainer_is_rank_zero():
            self.report_dir.mkdir(parents=True, exist_ok=True)
            (self.report_dir / "data_report.json").write_text(json.dumps(report, indent=2, default=int))
            shutil.copyfile(prepared.folder / "skipped.csv", self.report_dir / "skipped.csv")
        self.report = report

    def trainer_is_rank_zero(self) -> bool:
        return self.trainer is None or self.trainer.is_global_zero

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[split]
        # one process: an order that depends on (seed, epoch) only, so a resumed run sees the same
        # batches; several: Lightning's DistributedSampler, which is seeded per epoch likewise
        distributed = self.trainer is not None and self.trainer.world_size > 1
        sampler = None
        if shuffle and self.sampler == "balanced_speakers":
            # under DDP Lightning wraps it in a DistributedSamplerWrapper, which forwards set_epoch:
            # every rank draws the same (seed, epoch) list and takes its share of it
            sampler = BalancedSpeakers(dataset.strata, dataset.groups, self.seed)
        elif shuffle and not distributed:
            sampler = EpochShuffle(len(dataset), self.seed)
        # training: the epoch's order is drawn once Lightning has set the sampler's epoch
        return (EpochLoader if shuffle else DataLoader)(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            collate_fn=as_batch,
            num_workers=self.num_workers,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
            drop_last=shuffle and len(self.datasets[split]) > self.batch_size,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


def _stat(path: str) -> tuple[int, int]:
    try:
        st = Path(path).stat()
        return st.st_size, int(st.st_mtime)
    except OSError:
        return -1, -1  # a missing file is prepared (and reported as skipped) like any broken one
