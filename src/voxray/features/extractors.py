"""The baseline's clip-feature extractors, and the table of them for a datamodule's rows.

An extractor is a callable `(waves, durations, cache_dir) -> DataFrame` that caches its own results:
`HandcraftedFeatures` here, `voxray.features.resemblyzer.ResemblyzerFeatures` beside it.
`features_of_rows` feeds one a clip array block by block (the baseline and the EDA use it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voxray.errors import UserError
from voxray.features.handcrafted import FeatureParams, compute_features, feature_names

# Clips read from the memmap per feature call: bounds memory on a full Common Voice cache, and
# each block is cached on its own, so an interrupted run resumes at the first missing block.
BLOCK = 4096
Extractor = Callable[[np.ndarray, np.ndarray, Path], pd.DataFrame]


class HandcraftedFeatures:
    """The hand-crafted features of `voxray.features.handcrafted`, as a baseline extractor.

    Args:
        params: feature settings (`FeatureParams`).
        num_workers: worker processes (None = the usable cores).
        drop: feature columns left out (none), e.g. `duration_s` and `onset_count`, which measure
            how long a clip is rather than who speaks; the cache keeps them.
    """

    def __init__(self, params: FeatureParams, num_workers: int | None = None, drop: Sequence[str] = ()) -> None:
        unknown = sorted(set(drop) - set(feature_names(params)))
        if unknown:
            raise UserError(f"baseline.features.drop: no feature named {unknown}; "
                            f"the features are {feature_names(params)}")
        self.params, self.num_workers, self.drop = params, num_workers, list(drop)

    def __call__(self, waves: np.ndarray, durations: np.ndarray, cache_dir: Path) -> pd.DataFrame:
        """(n, L) int16 clips and their speech seconds (n,) -> (n, n_features) table."""
        return compute_features(waves, durations, self.params, cache_dir, self.num_workers).drop(columns=self.drop)


def features_of_rows(
    extract: Extractor, data: np.ndarray, rows: Sequence[int], durations: Sequence[float], cache_dir: Path
) -> pd.DataFrame:
    """Features of `data[rows]`, in the order of `rows`, read and cached block by block.

    Args:
        extract: `(waves, durations, cache_dir) -> DataFrame`, e.g. `HandcraftedFeatures`.
        data: the datamodule's clip array (N, L), usually a memmap.
        rows: indices into `data`.
        durations: speech seconds of each of `rows`.
        cache_dir: where `extract` caches its results.
    """
    rows, durations = np.asarray(rows), np.asarray(durations, dtype=np.float64)
    order = np.argsort(rows, kind="stable")  # ascending rows read the memmap sequentially
    blocks = [
        extract(np.asarray(data[rows[chunk]]), durations[chunk], cache_dir)
        for chunk in np.array_split(order, max(1, -(-len(order) // BLOCK)))
    ]
    sorted_features = pd.concat(blocks, ignore_index=True)
    return sorted_features.iloc[np.argsort(order)].reset_index(drop=True)
