"""Where a cache row's speech ends, which frames hold it, and statistics over those frames only.

The cache stores a clip's trimmed speech from its first sample on and zeros after it
(`voxray.data.voice.audio.fix_length`). A statistic over the whole row (a mel band's mean, a pitch row's
mean and max, batch normalisation) mixes in a share of silence that grows as the clip shortens: a
cue to the clip's length, not to the voice. The speech ends after its last non-zero sample, so a
run of zeros inside it (a pause that denoising silenced) does not end it. Computed from the
waveform itself, on the device: an exported graph and `predict` need no second input.
"""

from __future__ import annotations

import torch
from torch import nn


def speech_length(wave: torch.Tensor) -> torch.Tensor:
    """(B, L) -> (B,) int64: the index after each clip's last non-zero sample (0 for a silent clip)."""
    idx = torch.arange(1, wave.shape[1] + 1, device=wave.device)
    return ((wave != 0) * idx).amax(dim=1)


def speech_frames(length: torch.Tensor, n_samples: int, hop_length: int, n_frames: int) -> torch.Tensor:
    """(B,) speech lengths -> (B, T) bool: the STFT frames (center=True) centred on a speech sample.

    A clip whose speech fills the row keeps every frame (the last ones are reflect-padded speech);
    a silent clip keeps every frame too, so that its statistics stay finite.
    """
    centre = torch.arange(n_frames, device=length.device) * hop_length  # (T,)
    speech = (centre[None] < length[:, None]) | (length[:, None] >= n_samples)  # (B, T)
    return speech | ~speech.any(dim=1, keepdim=True)


def nonzero_frames(x: torch.Tensor) -> torch.Tensor:
    """(B, C, F, T) front-end output -> (B, T) float32: 1 for a frame with any non-zero value, 0 for
    the padding frames `VoiceFrontEnd` sets to 0 in every row (all 1 for a clip with none)."""
    speech = x.ne(0).flatten(1, 2).any(dim=1)  # (B, T)
    return (speech | ~speech.any(dim=1, keepdim=True)).float()


def masked_mean(x: torch.Tensor, speech: torch.Tensor) -> torch.Tensor:
    """(B, C, F, T) and (B, T) weights -> (B, C, F, 1): the mean over time of the weighted frames."""
    w = speech.to(x.dtype)[:, None, None, :]  # (B, 1, 1, T)
    return (x * w).sum(dim=-1, keepdim=True) / w.sum(dim=-1, keepdim=True)


class SpeechNorm(nn.BatchNorm1d):
    """Per-row standardisation (batch norm over the F axis, no affine) with statistics of speech frames only.

    Training normalises with the mean and variance of the batch's speech frames and keeps running
    averages of them (momentum and unbiased variance as `nn.BatchNorm2d`); evaluation uses those.
    Padding frames come out as 0. Weighted sums, not boolean indexing: no wait for the host on a
    GPU. Same state as `nn.BatchNorm2d(num_features, affine=False)`. Args: num_features (rows F).
    """

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, affine=False)

    def forward(self, x: torch.Tensor, speech: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """(B, C, F, T) and (B, T) bool -> (B, C, F, T), 0 at the frames that are not speech."""
        m = speech.to(x.dtype)[:, None, None, :]  # (B, 1, 1, T)
        if not self.training:
            return nn.functional.batch_norm(x.transpose(1, 2), self.running_mean, self.running_var,
                                            eps=self.eps).transpose(1, 2) * m
        n = (m.sum() * x.shape[1]).clamp_min(1)  # speech frames x channels: values per row
        mean = (x * m).sum(dim=(0, 1, 3)) / n  # (F,)
        centred = (x - mean[:, None]) * m
        var = (centred**2).sum(dim=(0, 1, 3)) / n  # (F,), biased, as batch norm normalises with
        with torch.no_grad():
            self.num_batches_tracked += 1
            factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            self.running_mean.lerp_(mean, factor)
            self.running_var.lerp_(var * n / (n - 1).clamp_min(1), factor)
        return centred / (var[:, None] + self.eps).sqrt()
