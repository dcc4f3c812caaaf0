"""The store: a data root's files prepared once into litdata chunk files with a Parquet manifest.

Parts are prepared independently (`prepare.py part=K of=N`, or a training run's own preparation)
and completed once every part is done. Training reads the rows at random from a local disk
(`ChunkRows`); the chunk files and `index.json` are also what `litdata.StreamingDataset` streams.
"""

from voxray.data.store.build import PART_SIZE, complete, files_key, is_complete, open_rows, open_store, prepare_store
from voxray.data.store.rows import ChunkRows, ShardError

__all__ = ["PART_SIZE", "ChunkRows", "ShardError", "complete", "files_key", "is_complete", "open_rows",
           "open_store", "prepare_store"]
