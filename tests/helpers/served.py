"""Checks shared by the store tests: two DataModules serve the same splits."""

from __future__ import annotations

import numpy as np

from voxray.data.splits import SPLITS


def assert_same_splits(first, second) -> None:  # noqa: ANN001 (two set-up ArrayDataModules)
    """Every split's rows, labels, groups and row contents are the same in both."""
    for split in SPLITS:
        a, b = first.datasets[split], second.datasets[split]
        np.testing.assert_array_equal(a.rows, b.rows)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.groups, b.groups)
        np.testing.assert_array_equal(a.data[a.rows], b.data[b.rows])
