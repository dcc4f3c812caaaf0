"""A checkpoint is untrusted input: a pickle that runs code on load is refused, never executed."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from voxray.checkpoint import load_run
from voxray.errors import UserError


class _Payload:
    """Unpickling this creates the folder `marker`: a stand-in for any command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.mkdir, (str(self.marker),)


def test_a_checkpoint_with_a_code_running_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "payload_ran"
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"voxray": {"config": {"seed": 0}}, "state_dict": {}, "extra": _Payload(marker)}, ckpt)
    # refused as a user error: one line, and never the "load it unsafely" advice of torch's message
    says = r"cannot be read as a checkpoint with weights_only=True \(Weights only load failed\); pass"
    with pytest.raises(UserError, match=says) as refused:
        load_run(ckpt)
    assert isinstance(refused.value.__cause__, pickle.UnpicklingError)
    assert "weights_only` set to `False" not in str(refused.value)
    assert not marker.exists(), "the payload ran"
    torch.load(ckpt, weights_only=False)  # the payload is live: an unsafe load runs it
    assert marker.exists()
