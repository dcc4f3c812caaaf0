"""A compact CNN for log-mel images: conv-BN-ReLU blocks, then mean+max pooling over the speech
frames that keeps a few frequency bands (pitch and formant positions carry age and sex)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from voxray.features.speech_frames import nonzero_frames


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 conv-BN-ReLU layers and a 2x2 average pool (halves F and T)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.AvgPool2d(2),
    )


class MelCNN(nn.Module):
    """Log-mel image classifier.

    Args:
        num_classes: output logits.
        in_chans: input channels (1 for a mel image).
        channels: widths of the conv blocks (12, 24, 48, 96); each block halves F and T.
        freq_bands: frequency bands kept into the head (4); 1 = global frequency pooling.
        dropout: before the linear head (0.3).
        head_rows: the input's last rows that skip the convolutions and reach the head as their mean
            and max over time (0: none), e.g. the front end's pitch rows: a clip's pitch profile is
            global evidence the conv stack's four bands would blur.

    The time statistics leave out the frames that are 0 in every row: the zero padding after a
    clip's speech as `VoiceFrontEnd` hands it over (and, in training, SpecAugment's time masks).
    """

    def __init__(
        self, num_classes: int, in_chans: int = 1, channels: Sequence[int] = (12, 24, 48, 96),
        freq_bands: int = 4, dropout: float = 0.3, head_rows: int = 0,
    ) -> None:
        super().__init__()
        widths = [in_chans, *channels]
        self.features = nn.Sequential(*(conv_block(a, b) for a, b in zip(widths, widths[1:])))
        self.freq_bands, self.head_rows = freq_bands, head_rows
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(2 * (widths[-1] * freq_bands + head_rows), num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, F, T) -> (B, num_classes); the last `head_rows` of F go straight to the head."""
        speech = nonzero_frames(x)  # (B, T)
        if self.head_rows:
            x, rows = x[:, :, :-self.head_rows], x[:, :, -self.head_rows:]  # rows: (B, C, head_rows, T)
        x = self.features(x)  # (B, C', F', T')
        # each pooled frame weighted by its share of speech frames, as the blocks' 2x2 pools cover them
        weights = nn.functional.avg_pool1d(speech[:, None], 2 ** len(self.features))[:, 0]  # (B, T')
        x = nn.functional.adaptive_avg_pool1d(_time_stats(x, weights), self.freq_bands).flatten(1)  # (B, 2C' bands)
        if self.head_rows:
            x = torch.cat([x, _time_stats(rows, speech).flatten(1)], dim=1)  # + (B, 2C head_rows)
        return self.head(x)


def _time_stats(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(B, C, F, T) and (B, T) frame weights -> (B, 2C, F): the weighted mean over time summarises
    the voice, the max over the weighted frames catches short cues. (A global frequency mean
    afterwards would forget where the harmonics and formants sit.)"""
    weights = torch.where(weights.sum(dim=1, keepdim=True) > 0, weights, 1.0)  # none left: every frame
    w = weights[:, None, None, :]  # (B, 1, 1, T)
    mean = (x * w).sum(dim=3) / w.sum(dim=3)
    peak = x.masked_fill(w == 0, float("-inf")).amax(dim=3)
    return torch.cat([mean.to(x.dtype), peak], dim=1)
