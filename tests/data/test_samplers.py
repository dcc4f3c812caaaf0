"""The training loader draws an epoch's order only once Lightning has set the sampler's epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Sampler

from voxray.data.samplers import BalancedSpeakers, EpochLoader, EpochShuffle


@pytest.mark.parametrize("sampler", [
    EpochShuffle(48, seed=1),
    BalancedSpeakers(np.arange(48) % 2, np.arange(48) // 3, seed=1),
], ids=["shuffle", "balanced_speakers"])
def test_with_workers_an_epoch_is_drawn_in_its_order_though_its_iterator_came_first(sampler: Sampler) -> None:
    loader = EpochLoader(list(range(48)), batch_size=4, sampler=sampler, num_workers=2, persistent_workers=True)
    iterator = iter(loader)  # as Lightning does for a launch's first epoch, before `set_epoch`
    sampler.set_epoch(3)
    drawn = torch.cat(list(iterator)).tolist()
    assert drawn == list(sampler), "the order of epoch 3, not of the epoch set when the iterator was made"
    sampler.set_epoch(4)
    assert torch.cat(list(loader)).tolist() == list(sampler)
