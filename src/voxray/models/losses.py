"""Class weights for the cross-entropy loss, computed from the training split's class counts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

WEIGHTINGS = ("balanced", "none", "manual")


def class_weights(
    counts: Sequence[int], weighting: str = "balanced", manual: Sequence[float] | None = None
) -> torch.Tensor:
    """Per-class loss weights, (k,).

    Args:
        counts: training rows per class.
        weighting: "balanced" = n / (k * count_c), as scikit-learn's class_weight="balanced";
            "none" = all ones; "manual" = the `manual` list as given.
        manual: one weight per class, for weighting="manual".
    """
    counts = np.asarray(counts, dtype=np.float64)
    k = len(counts)
    if weighting == "balanced":
        # A class absent from training gets weight 0 rather than inf; it cannot be learnt anyway.
        w = np.where(counts > 0, counts.sum() / (k * np.maximum(counts, 1)), 0.0)
    elif weighting == "none":
        w = np.ones(k)
    elif weighting == "manual":
        if manual is None or len(manual) != k:
            raise ValueError(f"weighting='manual' needs {k} weights in loss.manual_weights, got {manual}")
        w = np.asarray(manual, dtype=np.float64)
    else:
        raise ValueError(f"loss.weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    return torch.tensor(w, dtype=torch.float32)
