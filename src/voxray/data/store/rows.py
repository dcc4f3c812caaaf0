"""Random access to a store's rows on a local disk: the litdata chunk files, memory-mapped.

litdata's own `StreamingDataset` reads a chunk item by item through its loader (milliseconds per
random read); a training sampler wants any row at memmap speed. Every row of a store is a
fixed-size 1-D numpy item, which litdata writes as `uint32 num_items | uint32 offsets[num_items+1]
| items`, each item `uint32 byte length | the row's bytes` (`BinaryWriter._create_chunk`). So a
chunk is a (num_items, 4 + row_bytes) byte matrix after its header, and a batch is one fancy-
indexed read of it. The layout is checked on open; a test compares every row with litdata's
reader, so a litdata release that changes the format fails there, not in training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voxray.errors import UserError

ITEM_PREFIX = 4  # bytes of the uint32 item length before each row's bytes


class ShardError(UserError):
    """A chunk file of a store is missing, truncated or not the layout its index describes."""


class ChunkRows:
    """The store's rows as a read-only array-like: `rows[i]` (*shape), `rows[idx]` (len(idx), *shape).

    Args:
        folder: the store folder (chunk files beside its litdata `index.json`).
        chunks: the index's chunk entries in row order ({"filename", "chunk_size", "chunk_bytes"}).
        shape: one row's shape; dtype: its numpy dtype.
    """

    def __init__(self, folder: Path, chunks: list[dict], shape: tuple[int, ...], dtype: str) -> None:
        self.folder, self.chunks = Path(folder), chunks
        self.row_shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_bytes = int(np.prod(self.row_shape)) * self.dtype.itemsize
        sizes = np.array([c["chunk_size"] for c in chunks], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)])  # (n_chunks + 1,)
        self.shape = (int(self.starts[-1]), *self.row_shape)
        self._maps: dict[int, np.ndarray] = {}
        for c in range(len(chunks)):
            self._check(c)

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict:  # a spawned DataLoader worker maps the files again
        return {**self.__dict__, "_maps": {}}

    def _path(self, c: int) -> Path:
        return self.folder / self.chunks[c]["filename"]

    def _check(self, c: int) -> None:
        """Raise `ShardError` naming the file unless chunk `c` is whole and in the expected layout."""
        path, chunk = self._path(c), self.chunks[c]
        n, stride = int(chunk["chunk_size"]), ITEM_PREFIX + self.row_bytes
        header = 4 * (n + 2)
        try:
            size = path.stat().st_size
        except OSError as err:
            raise ShardError(f"store chunk {path} cannot be read ({err.strerror}); prepare the store again") from err
        if size != chunk["chunk_bytes"]:
            raise ShardError(f"store chunk {path} has {size} bytes, its index says {chunk['chunk_bytes']} "
                             "(truncated or replaced); prepare the store again")
        head = np.fromfile(path, dtype="<u4", count=n + 2)
        expected_offsets = header + stride * np.arange(n + 1)
        if head[0] != n or not np.array_equal(head[1:], expected_offsets) or size != header + n * stride:
            raise ShardError(f"store chunk {path} is not {n} rows of {self.row_shape} {self.dtype}: "
                             "written for another shape or by another litdata format")

    def _chunk(self, c: int) -> np.ndarray:
        """Chunk `c`'s rows, (n, *row_shape) of `dtype`: a strided view of the mapped file that
        steps over each item's length prefix (numpy's fancy indexing copies such rows quickly)."""
        if c not in self._maps:
            n = int(self.chunks[c]["chunk_size"])
            stride = ITEM_PREFIX + self.row_bytes
            items = np.memmap(self._path(c), dtype=np.uint8, mode="r", offset=4 * (n + 2), shape=(n * stride,))
            flat = np.ndarray((n, self.row_bytes // self.dtype.itemsize), dtype=self.dtype, buffer=items,
                              offset=ITEM_PREFIX, strides=(stride, self.dtype.itemsize))
            self._maps[c] = flat.reshape(n, *self.row_shape)
        return self._maps[c]

    def __getitem__(self, index: int | np.integer | np.ndarray | list | slice | tuple) -> np.ndarray:
        if isinstance(index, tuple):  # rows first, then numpy indexing within them
            first, rest = index[0], index[1:]
            return self[first][rest] if np.ndim(first) == 0 and not isinstance(first, slice) \
                else self[first][(slice(None), *rest)]
        if isinstance(index, slice):
            index = np.arange(*index.indices(len(self)))
        single = np.ndim(index) == 0
        rows = np.atleast_1d(np.asarray(index, dtype=np.int64))
        if len(rows) and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(f"row index out of range for a store of {len(self)} rows")
        rows = np.where(rows < 0, rows + len(self), rows)
        which = np.searchsorted(self.starts, rows, side="right") - 1
        if len(rows) and which[0] == which[-1] and (which == which[0]).all():  # one chunk: one copy
            batch = self._chunk(int(which[0]))[rows - self.starts[which[0]]]
            return batch[0] if single else batch
        out = np.empty((len(rows), *self.row_shape), dtype=self.dtype)
        for c in np.unique(which):
            picked = which == c
            out[picked] = self._chunk(int(c))[rows[picked] - self.starts[c]]
        return out[0] if single else out
