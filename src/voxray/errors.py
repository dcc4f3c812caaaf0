"""The project's exceptions, and the example paths their messages suggest; imports nothing, so any module may use it."""

from __future__ import annotations

# the checkpoint a run tested (eval, predict, export); a resume continues from the last epoch's
CKPT_EXAMPLE = "outputs/train/runs/<time>/checkpoints/best.ckpt"
RESUME_EXAMPLE = "outputs/train/runs/<time>/checkpoints/last.ckpt"


class UserError(ValueError):
    """A mistake in the command, the data or the machine: printed as one line, without a traceback."""


class PretrainedWeightsUnavailable(UserError, RuntimeError):
    """Pretrained weights asked for while their server cannot be reached and no cached copy exists."""
