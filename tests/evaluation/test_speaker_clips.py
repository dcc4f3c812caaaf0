"""The voice checkpoint monitor: it ranks epochs that speaker-level UAR ties on few speakers."""

import numpy as np
import pytest
import torch

from voxray.evaluation.speaker_clips import speaker_clip_uar
from voxray.evaluation.speakers import speaker_uar


def _epoch(female_right: int, male_right: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """A validation split of two speakers, F (10 clips) and M (10 clips); `*_right` of each speaker's
    clips get 0.8 on the true class, the rest 0.4."""
    p_true = [0.8] * female_right + [0.4] * (10 - female_right) + [0.8] * male_right + [0.4] * (10 - male_right)
    targets = torch.tensor([0] * 10 + [1] * 10)
    probs = torch.tensor([[p, 1 - p] if y == 0 else [1 - p, p] for p, y in zip(p_true, targets.tolist())])
    return probs, targets, np.array(["F"] * 10 + ["M"] * 10)


def test_epochs_tied_at_speaker_uar_are_ranked_by_the_monitor() -> None:
    """One validation speaker per class, as in official splits: speaker UAR is 0, 0.5 or 1, so a
    middling epoch ties a good one and the checkpoint callback keeps the earlier."""
    early, late = _epoch(10, 6), _epoch(10, 10)
    assert speaker_uar(*early) == speaker_uar(*late) == 1.0
    assert speaker_clip_uar(*early) == pytest.approx((1 + 0.6) / 2)
    assert speaker_clip_uar(*late) == 1.0


def test_every_speaker_weighs_one_whatever_their_clip_count() -> None:
    """F1 has 8 clips, 6 right; F2 2 clips, both wrong; M1 5 clips, all right: clip-level UAR would
    give F1 four times F2's say."""
    p_female = [0.9] * 6 + [0.4] * 2 + [0.3] * 2 + [0.2] * 5
    probs = torch.tensor([[p, 1 - p] for p in p_female])
    targets = torch.tensor([0] * 10 + [1] * 5)
    groups = np.array(["F1"] * 8 + ["F2"] * 2 + ["M1"] * 5)
    assert speaker_clip_uar(probs, targets, groups) == pytest.approx(((6 / 8 + 0) / 2 + 1) / 2)
