"""Reading a split's view (`voxray.data.store.views`) as a stream (`data.stream=true`), with litdata's
`StreamingDataset` and `StreamingDataLoader`, from a local folder or object storage.

What litdata does: downloads chunk files ahead of use into a local cache; shuffles by (seed, epoch)
at two levels, the chunk files and then the rows within a window of them (a stream's shuffle, not a
full permutation); gives ranks and workers disjoint chunks; and keeps a loader state that Lightning
saves in each checkpoint, so that a run resumes where it stopped, mid-epoch included. What this
adds: each example's label and its position in the split, the DataModule's (x, label, position).

Validation and test stream without padding (`drop_last=False`): ranks may get unequal counts, every
example exactly once; the evaluation's gather pads and drops the padding (`models.outputs`).
Training drops the tail that would leave ranks and workers with unequal batches, as the map-style
loader's `drop_last` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn
from litdata import StreamingDataLoader, StreamingDataset
from litdata.streaming.sampler import ChunkedIndex

from voxray.data.samplers import StartsAtFirstBatch
from voxray.data.store.rows import ChunkRows, ShardError
from voxray.data.store.views import read_summary, upload_views, view_key, write_views
from voxray.errors import UserError


class StreamSplit(StreamingDataset):
    """One split's view as (x, label, position) examples.

    Args:
        uri: the split's view: a folder, or an object-storage URI (s3://, gs://, ...).
        labels: (n,) class per position, or (n, n_tasks) with -1 for a missing label.
        shape, dtype: one row's shape and numpy dtype.
        train: shuffle by (seed, epoch) and drop the uneven tail; False: in order, every row once.
        seed: the run's seed.
        cache_dir: where downloaded chunk files are kept (litdata's cache).
        storage_options: the object store's connection options (e.g. {"endpoint_url": ...}).
    """

    def __init__(self, uri: str, labels: np.ndarray, shape: tuple[int, ...], dtype: str, train: bool, seed: int,
                 cache_dir: str | None = None, storage_options: dict | None = None) -> None:
        self.storage_options = dict(storage_options or {})
        _allow_plain_http(self.storage_options)
        # batch_decode=1: one row decoded per item (litdata's "auto" decoded whole windows of rows and
        # used one of them under a shuffle)
        super().__init__(uri, cache_dir=cache_dir, shuffle=train, drop_last=train, seed=seed,
                         storage_options=self.storage_options, batch_decode=1)
        self.labels, self.row_shape, self.row_dtype = labels, tuple(shape), np.dtype(dtype)

    def __setstate__(self, state: dict) -> None:  # a spawned loader worker
        self.__dict__.update(state)
        _allow_plain_http(self.storage_options)

    def __getitem__(self, index: ChunkedIndex | int) -> tuple[torch.Tensor, int | torch.Tensor, int]:
        row = super().__getitem__(index)
        position = index.index if isinstance(index, ChunkedIndex) else int(index)
        x = torch.from_numpy(np.array(row, dtype=self.row_dtype).reshape(self.row_shape))
        labels = self.labels[position]
        label = int(labels) if self.labels.ndim == 1 else torch.from_numpy(labels).long()
        return x, label, position


class EpochStream(StreamingDataLoader):
    """litdata's loader with the epoch taken from the trainer when an epoch's first batch is asked for.

    litdata counts epochs by its own iterations, and Lightning restores a loader's state only when
    it resumes mid-epoch: after a resume from an epoch's end the stream would start over at its
    first epoch's order. Read at the first batch (Lightning makes the iterator before it sets its
    epoch), `epoch()` makes the order a function of (seed, epoch) however the run was launched; a
    state Lightning restored mid-epoch is left as it is.

    Args:
        dataset: the split's stream.
        epoch: the trainer's current epoch (None: litdata counts, as for validation and test).
    """

    def __init__(self, dataset: StreamSplit, epoch: Callable[[], int] | None = None, **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        self.epoch = epoch

    def __iter__(self) -> Iterator:
        return StartsAtFirstBatch(self._start)

    def load_state_dict(self, obj: dict[str, Any]) -> None:
        super().load_state_dict(obj)
        self.restored_epoch = obj["current_epoch"]

    def _start(self) -> Iterator:
        if self.epoch is not None:
            epoch = self.epoch() + 1  # litdata counts from one
            if self.restore and getattr(self, "restored_epoch", None) != epoch:
                # litdata keeps a restored state until an epoch runs to its loader's end, and Lightning
                # stops at its count of batches: a resumed epoch would leave the next one empty
                self.restore = False
            if not self.restore:
                self.current_epoch = epoch - 1  # litdata adds one as the iteration starts
        return super().__iter__()


def stream_loader(dataset: StreamSplit, batch_size: int, num_workers: int,
                  epoch: Callable[[], int] | None = None) -> EpochStream:
    """A split's loader; its `state_dict` is what Lightning saves for a mid-epoch resume."""
    return EpochStream(dataset, epoch, batch_size=batch_size, num_workers=num_workers, collate_fn=stack_examples,
                       pin_memory=torch.cuda.is_available())


def stack_examples(examples: list[tuple[torch.Tensor, int | torch.Tensor, int]]) -> tuple[torch.Tensor, ...]:
    """(x, label, position) examples as one batch, the rows stacked by numpy: torch's stack runs on
    the intra-op threads of a process without loader workers, which on a busy machine made it the
    loader's slowest step (bench/stream.py)."""
    xs, labels, positions = zip(*examples)
    x = torch.from_numpy(np.stack([t.numpy() for t in xs]))
    y = torch.stack(labels) if isinstance(labels[0], torch.Tensor) else torch.tensor(labels)
    return x, y, torch.tensor(positions)


def trainer_loader(split: StreamSplit, rows: int, batch_size: int, num_workers: int, trainer: L.Trainer | None,
                   train: bool) -> EpochStream | EqualSteps:
    """The loader a DataModule hands the trainer for a split's stream of `rows` rows: for training with
    the trainer's epoch; for evaluation under DDP with as many batches on every rank."""
    epoch = (lambda: trainer.current_epoch) if train and trainer is not None else None
    loader = stream_loader(split, batch_size, num_workers, epoch)
    if train and len(loader) == 0:  # whole batches only, as many on every rank and worker
        ranks = trainer.world_size if trainer is not None else 1
        raise UserError(f"the training stream gives this process no batch: {rows} rows for batches of {batch_size} "
                        f"on {ranks} process(es) x {max(num_workers, 1)} loader worker(s); lower data.batch_size "
                        "or data.num_workers, or read at random (data.stream=false)")
    if num_workers > 1 and split.input_dir.url and "://" in split.input_dir.url:
        rank_zero_warn(f"data.num_workers={num_workers} from object storage: litdata reads a chunk file shared by two "
                       "workers whole for every row (bench/results.md, 'Streaming reader'); data.num_workers=1 reads "
                       "each chunk once")
    if train or trainer is None or trainer.world_size == 1:
        return loader
    return EqualSteps(loader, rows, lambda more: trainer.strategy.reduce_boolean_decision(more, all=False))


class EqualSteps:
    """A validation or test stream under DDP, with as many batches on every rank.

    A stream gives ranks unequal shares (every example once, no padding), but DDP's forward
    broadcasts buffers at every step, so ranks must step together. After its own batches, a rank
    yields padding (its last batch, or zero rows when it had none, at position -1, which the
    evaluation's gather drops) until no rank has a batch left: one boolean reduction per step.

    Args:
        loader: this rank's stream.
        rows: the split's rows over every rank (for `len`, an upper bound of any rank's batches).
        any_rank: whether any rank's decision is true (Lightning's `strategy.reduce_boolean_decision`
            with `all=False`).
    """

    def __init__(self, loader: EpochStream, rows: int, any_rank: Callable[[bool], bool]) -> None:
        self.loader, self.rows, self.any_rank = loader, rows, any_rank

    def __len__(self) -> int:
        return -(-self.rows // self.loader.batch_size) + max(self.loader.num_workers, 1)

    def __iter__(self) -> Iterator:
        last = None
        for batch in self.loader:
            self.any_rank(True)
            last = batch
            yield batch
        while self.any_rank(False):
            yield self._padding(last)

    def _padding(self, last: tuple | None) -> tuple:
        split: StreamSplit = self.loader.dataset
        if last is None:
            x = torch.from_numpy(np.zeros((1, *split.row_shape), dtype=split.row_dtype))
            joint = split.labels.ndim > 1  # -1: no label for that task
            labels = torch.full((1, *split.labels.shape[1:]), -1 if joint else 0, dtype=torch.long)
            return x, labels, torch.full((1,), -1)
        x, labels, position = last
        return x, labels, torch.full_like(position, -1)


def stream_cache(cache_dir: Path) -> str:
    """Where a node keeps the chunk files it downloaded."""
    return str(Path(cache_dir) / "stream" / "downloads")


def _allow_plain_http(storage_options: dict) -> None:
    """Let litdata's chunk downloads (obstore) reach an `http://` endpoint (an S3-compatible server on
    a cluster, or a local stand-in): its client refuses plain HTTP and takes no option for it, while
    its boto3 client, which reads the index, follows the endpoint as given."""
    if str(storage_options.get("endpoint_url", "")).startswith("http://"):
        from litdata.streaming import downloader

        downloader._OBSTORE_CLIENT_OPTIONS["allow_http"] = "true"


def open_streams(datasets: dict, store: Path, cache_dir: Path, uri: str | None, seed: int,
                 storage_options: dict | None = None,
                 write_from: Callable[[], ChunkRows] | None = None) -> dict[str, StreamSplit]:
    """The split views of `datasets` ({split: ArrayDataset}, rows of the store in `store`) as streams.

    The views are read from `<uri>/<key>/`, or `<cache_dir>/stream/<key>/` when `uri` is None. When
    they are not there: written from `write_from()` (the store's rows, in the process that prepares)
    and uploaded to `uri`, or, without `write_from`, a one-line error naming the command that writes
    them."""
    splits = {split: d.rows for split, d in datasets.items()}
    key = view_key(store, splits)
    local = Path(cache_dir) / "stream" / key
    where = f"{uri.rstrip('/')}/{key}" if uri else str(local)
    summary = read_summary(where, storage_options)
    if summary is None and write_from is not None:
        write_views(write_from(), splits, local)
        if uri:
            upload_views(local, where, storage_options)
        summary = read_summary(where, storage_options)
    if summary is None:
        raise UserError(f"no split views at {where} for this store and split (data.stream=true): run "
                        "`python prepare.py data.stream=true ...` with the same settings, or train.py "
                        "on a node that has the store, to write them")
    if summary["rows"] != {s: len(r) for s, r in splits.items()}:
        raise UserError(f"the split views at {where} hold {summary['rows']} rows, this run's splits "
                        f"{ {s: len(r) for s, r in splits.items()} }: views of another store")
    if not uri:  # a local copy is checked as the store is: a truncated or foreign chunk file named in one line
        for split in splits:
            index = json.loads((local / split / "index.json").read_text())
            try:
                ChunkRows(local / split, index["chunks"], tuple(summary["shape"]), summary["dtype"])
            except ShardError as err:  # the store's remedy is not this copy's
                fault = str(err).split("; prepare the store again")[0]
                raise ShardError(f"split copy for streaming: {fault}; delete {local} to write it again") from err
    downloads = stream_cache(cache_dir) if uri else None
    return {split: StreamSplit(f"{where}/{split}", d.labels, tuple(summary["shape"]), summary["dtype"],
                               train=split == "train", seed=seed, cache_dir=downloads,
                               storage_options=storage_options)
            for split, d in datasets.items()}
