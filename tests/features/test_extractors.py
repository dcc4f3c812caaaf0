"""The baseline's extractors: hand-crafted features with columns left out, and the table of a datamodule's rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import voxray.features.extractors
from tests.helpers.voices import tone
from voxray.errors import UserError
from voxray.features.extractors import HandcraftedFeatures, features_of_rows
from voxray.features.handcrafted import FeatureParams


def test_dropped_features_leave_the_table_and_a_misspelt_one_is_named(tmp_path: Path) -> None:
    waves = (np.stack([tone(120.0, 1.5)[:32000], tone(220.0, 1.5)[:32000]]) * 30000).astype(np.int16)
    durations = np.array([1.9, 1.6])
    full = HandcraftedFeatures(FeatureParams(), num_workers=0)(waves, durations, tmp_path)
    less = HandcraftedFeatures(FeatureParams(), num_workers=0, drop=["duration_s", "onset_count"])(
        waves, durations, tmp_path)
    pd.testing.assert_frame_equal(less, full.drop(columns=["duration_s", "onset_count"]))
    assert full["duration_s"].tolist() == [1.9, 1.6]
    with pytest.raises(UserError, match=r"no feature named \['duration'\]; the features are \['duration_s', "):
        HandcraftedFeatures(FeatureParams(), drop=["duration_s", "duration"])


def test_features_of_rows_keeps_the_order_of_rows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(voxray.features.extractors, "BLOCK", 2)  # several blocks, read in ascending row order
    data = np.arange(10, dtype=np.int16)[:, None] * np.ones((1, 4), dtype=np.int16)  # row i is all i
    seen = []

    def extract(waves: np.ndarray, durations: np.ndarray, cache_dir: Path) -> pd.DataFrame:
        seen.append(waves[:, 0].tolist())
        return pd.DataFrame({"value": waves[:, 0], "duration": durations})

    rows = [7, 2, 9, 0, 5]
    out = features_of_rows(extract, data, rows, [0.7, 0.2, 0.9, 0.0, 0.5], tmp_path)
    assert out["value"].tolist() == rows and out["duration"].tolist() == [0.7, 0.2, 0.9, 0.0, 0.5]
    assert seen == [[0, 2], [5, 7], [9]]
