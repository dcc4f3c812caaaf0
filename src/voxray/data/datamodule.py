"""A LightningDataModule over a prepared store; voice and X-ray only describe their inputs."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from voxray.data.cache import PreparedArray, cache_key, check_skips
from voxray.data.dataset import ArrayDataset, Plan, group_ids
from voxray.data.report import write_data_report
from voxray.data.samplers import capped_rows, make_loader
from voxray.data.splits import SPLITS, check_group_disjoint
from voxray.data.store import PART_SIZE, open_rows
from voxray.data.store.encoded import encoded_store
from voxray.data.store.plan import plan_store, prepare_plan
from voxray.data.store.planned import PlannedRows, load_planned, merge_rows, save_planned
from voxray.data.store.rows import ChunkRows
from voxray.data.store.verify import verify_store

SAMPLERS = ("shuffle", "balanced_speakers")


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
        num_workers: DataLoader workers (0 = in the training process).
        prepare_workers: processes that prepare the store; None = every CPU the job was given.
        part_size: files per part of the store (the unit `prepare.py part=K of=N` distributes).
        verify: check every prepared file's size and time against the store's manifest first.
        encoder: serve a frozen encoder's features of each row instead of the row (a store of
            them, `voxray.data.store.encoded`): a network factory whose `.encoder` makes them,
            the model's `model.net` (`${model.net}`); None serves the prepared rows.
        stream: read each split as a stream of its own copy of the rows (`voxray.data.store.stream`)
            instead of at random from the store; for object storage or a store larger than a node.
        stream_uri: where the split copies are (object storage: s3://bucket/prefix); None: the cache.
        stream_options: the object store's connection options (litdata's `storage_options`).
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
        prepare_workers: int | None = None,
        part_size: int = PART_SIZE,
        verify: bool = False,
        encoder: Callable[..., torch.nn.Module] | None = None,
        stream: bool = False,
        stream_uri: str | None = None,
        stream_options: dict | None = None,
    ) -> None:
        super().__init__()
        if stream and (encoder is not None or sampler != "shuffle"):
            raise ValueError("data.stream=true reads each split in its stream's order: it takes neither "
                             f"data.encoder nor data.sampler={sampler} (both need the store's rows at random)")
        self.stream, self.stream_uri, self.stream_options = stream, stream_uri, dict(stream_options or {})
        self.streams: dict = {}
        self.prepare_workers, self.part_size, self.verify = prepare_workers, part_size, verify
        self.encoder, self._encoded = encoder, None
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
        self._planned_rows: PlannedRows | None = None
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
        planned = self._planned_rows  # a start that read its saved rows has no plan
        return planned.group_name if planned is not None else self._get_plan().group_name

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

    def store_folder(self) -> Path:
        """The folder of this data's store (`voxray.data.store.plan`)."""
        return plan_store(self.cache_dir, self._get_plan())

    def prepare_store(self, task: tuple[int, int] | None = None) -> PreparedArray | None:
        """Prepare this data's store (for task (K, N) its parts K, K + N, ...) or open it when
        complete; None while parts left to other tasks are missing."""
        return prepare_plan(self._get_plan(), self.cache_dir, num_workers=self.prepare_workers,
                            part_size=self.part_size, max_skip_fraction=self.max_skip_fraction, task=task,
                            desc=f"preparing {type(self).__name__}", in_training=self.trainer is not None)

    def _prepare(self) -> PreparedArray:
        prepared = self.prepare_store()
        assert prepared is not None, "a preparation of every part returns the store"
        return prepared

    def prepare_data(self) -> None:
        self.planned()  # prepares the store, and saves the planned rows for the other processes
        if self.encoder is not None:
            self._rows()  # and the encoded store, once, before the other processes open it
        if self.stream:
            self.setup()
            self._open_streams(write=True)  # and the split views, once, before the other processes read them

    def _open_streams(self, write: bool = False) -> None:
        from voxray.data.store.stream import open_streams  # litdata: only a streamed run pays for it

        self.streams = open_streams(self.datasets, self.planned().folder, self.cache_dir, self.stream_uri, self.seed,
                                    self.stream_options, self._rows if write else None)

    def _rows(self) -> ChunkRows:
        """What the datasets read: the prepared rows, or with an encoder its features of them."""
        folder = self.planned().folder
        if self.encoder is None:
            return open_rows(folder)
        if self._encoded is None:
            self._encoded = encoded_store(self.cache_dir, folder, self.encoder, self.part_size,
                                          desc="encoding every row with the frozen encoder").data
        return self._encoded

    def plan_key(self) -> str | None:
        """A key for this configuration's planned rows that needs no table read (its settings and
        its table files' sizes and times), or None to plan on every start (the default)."""
        return None

    def planned(self, prepared: PreparedArray | None = None) -> PlannedRows:
        """The plan's rows matched with the store (`prepared`, when the caller has it open): saved
        by the process that prepared, read by the rest."""
        if self._planned_rows is None:
            key = self.plan_key()
            planned = load_planned(self.cache_dir, key, need_store=not self.stream) if key else None
            if planned is None:
                planned = merge_rows(self._get_plan(), prepared or self._prepare())
                if key:
                    save_planned(self.cache_dir, key, planned)
            self._planned_rows = planned
        return self._planned_rows

    def setup(self, stage: str | None = None) -> None:
        if self.table is not None:
            return
        planned = self.planned()
        if self.verify:
            verify_store(planned.folder, planned.root)
        data = None if self.stream else self._rows()  # a stream needs no store on this node
        check_skips(planned.skipped, len(planned.table if data is None else data), planned.folder,
                    self.max_skip_fraction)
        # capped after preparation, so that a skipped file does not count against its speaker
        table = planned.table
        capped = capped_rows(table, self.max_clips_per_speaker, self.seed)
        self.capped = table[capped]
        if capped.any():  # no copy of a million rows when nothing is capped
            table = table[~capped].reset_index(drop=True)
        self.data, self.table = data, table
        planned.report.update(self.check_prepared(table))
        label_columns = [f"label/{t}" for t in self.tasks] if self.tasks else []
        for split in SPLITS:  # only the columns a dataset reads, not whole rows
            part = table.loc[table["split"] == split, ["row", "label", "group", *label_columns]]
            self.datasets[split] = ArrayDataset(data, part["row"].to_numpy(), self.labels(part),
                                                group_ids(part["group"]), strata=part["label"].to_numpy())
        if len(self.datasets["train"]) == 0:
            raise ValueError(f"no training rows left after preparation; see {planned.folder / 'skipped.csv'}")
        self._report(planned, table)

    def check_prepared(self, table: pd.DataFrame) -> dict:
        """Checks that need the prepared rows (e.g. duplicate images); returns report entries."""
        return {}

    def class_counts(self, split: str = "train") -> np.ndarray | dict[str, np.ndarray]:
        """Rows per class in a split, (k,), or per task {task: (k_task,)} over the rows carrying
        that task's label; the class weights of the loss come from these."""
        rows = self.table["split"] == split  # only the label columns are taken, not the whole rows
        if not self.tasks:
            return np.bincount(self.table.loc[rows, "label"].to_numpy(), minlength=len(self.classes))
        counts = {}
        for task, classes in self.classes.items():
            labels = self.table.loc[rows, f"label/{task}"].to_numpy()
            counts[task] = np.bincount(labels[labels >= 0], minlength=len(classes))
        return counts

    def _report(self, plan: PlannedRows, table: pd.DataFrame) -> None:
        self.report = write_data_report(plan, table, self.tasks, self.max_clips_per_speaker, self.capped,
                                        self.report_dir, self.trainer_is_rank_zero())

    def trainer_is_rank_zero(self) -> bool:
        return self.trainer is None or self.trainer.is_global_zero

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if self.stream:
            from voxray.data.store.stream import trainer_loader

            if not self.streams:
                self._open_streams()
            return trainer_loader(self.streams[split], len(self.datasets[split]), self.batch_size, self.num_workers,
                                  self.trainer, shuffle)
        distributed = self.trainer is not None and self.trainer.world_size > 1
        return make_loader(self.datasets[split], shuffle, self.sampler if shuffle else None, self.seed,
                           self.batch_size, self.num_workers, distributed)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

