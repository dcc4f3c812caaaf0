"""Speed perturbation on the training device: each clip played a few percent faster or slower.

Playing a clip at speed s scales its pitch and every formant by s and its duration by 1/s: a
slightly different speaker saying the same thing. With few speakers to learn from, those new voices
are what keeps a network from memorising the people (Ko et al., 2015, Kaldi's 0.9 / 1.0 / 1.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import torch
import torchaudio
from torch import nn


class SpeedPerturb(nn.Module):
    """(B, L) float waveform -> (B, L) float32, each clip at a speed drawn from `factors` (or 1).

    A faster clip ends in zeros (as the cache pads a short one), a slower one loses its end. Each
    speed is a band-limited resample by the fraction nearest to it with a denominator up to 20, so
    1.1 is 11 -> 10 samples; identity in eval mode.

    Args:
        factors: speeds other than 1 to draw from, each in [0.5, 2] (0.9, 1.1: Kaldi's).
        p: probability that a clip gets one of them, uniformly; otherwise it keeps speed 1 (0.67).
    """

    max_denominator = 20

    def __init__(self, factors: Sequence[float] = (0.9, 1.1), p: float = 2 / 3) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p}")
        if not factors or any(not 0.5 <= f <= 2.0 or f == 1.0 for f in factors):
            raise ValueError(f"factors must be one or more speeds in [0.5, 2] other than 1, got {factors}")
        self.p = p
        fractions = [Fraction(f).limit_denominator(self.max_denominator) for f in factors]
        self.factors = [float(f) for f in fractions]
        # speed s = a/b: a input samples become b output samples, played at the same rate
        self.resamplers = nn.ModuleList(
            torchaudio.transforms.Resample(f.numerator, f.denominator, lowpass_filter_width=16,
                                           rolloff=0.9, resampling_method="sinc_interp_kaiser", beta=8.6)
            for f in fractions
        )
        for r in self.resamplers:  # derived from the settings: keep them out of checkpoints
            r.register_buffer("kernel", r.kernel, persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, L) -> (B, L) float32; each speed is computed for the whole batch and each clip takes its own
        (no wait for the host on a GPU)."""
        if not self.training or self.p <= 0:
            return wave
        x = wave.float()
        length = x.shape[1]
        drawn = torch.rand(x.shape[0], device=x.device) < self.p  # (B,)
        which = torch.randint(len(self.resamplers), (x.shape[0],), device=x.device)
        out = x
        for i, resample in enumerate(self.resamplers):
            y = resample(x)[:, :length]
            y = nn.functional.pad(y, (0, length - y.shape[1]))
            out = torch.where((drawn & (which == i))[:, None], y, out)
        return out
