"""The voice experiments' checkpoint monitor: clip decisions scored with each speaker weighing one.

`speaker_uar` counts whole speakers, so with few validation speakers per class it takes few values
(two speakers: 0, 0.5 or 1) and epochs tie; a tie keeps the earliest checkpoint. Clip-level UAR
moves with every clip but is ruled by the speakers who recorded the most. Here each clip weighs one
over its speaker's clip count: every speaker counts once, as in `speaker_uar`, and the score moves
with each clip a speaker has, so it still ranks epochs when a class has one or two speakers.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike


def speaker_clip_uar(probs: torch.Tensor, targets: torch.Tensor, groups: ArrayLike) -> float:
    """Mean over the classes present of the speaker-weighted share of their clips decided right:
    within a class, the mean over its speakers of the share of their clips whose argmax is right.

    Args:
        probs: (N, k) clip probabilities.
        targets: (N,) clip class indices.
        groups: (N,) speaker of each clip.
    """
    right = (probs.argmax(dim=1) == targets).cpu().numpy()
    targets = targets.cpu().numpy()
    _, speaker, clips = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    weight = 1.0 / clips[speaker]  # (N,): a speaker's clips weigh one together
    recalls = [weight[targets == c][right[targets == c]].sum() / weight[targets == c].sum()
               for c in np.unique(targets)]
    return float(np.mean(recalls))
