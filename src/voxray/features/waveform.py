"""Waveform front end: int16 batch -> float in [-1, 1], speed and channel augmentation in training, on device."""

from __future__ import annotations

import torch
from torch import nn


class WaveformFrontEnd(nn.Module):
    """int16 waveform batch -> float32 waveform; a new speaker speed and recording channel per clip in training.

    The raw-waveform input of a speech encoder, and the first step of `VoiceFrontEnd`'s log-mel.

    Args:
        channel: waveform augmentation (`voxray.features.channel.ChannelAugment`), or None for none.
        augment: apply it (and `speed`) in training (True); False for debug=overfit.
        speed: speed perturbation (`voxray.features.speed.SpeedPerturb`), applied before the channel, or None.
    """

    def __init__(self, channel: nn.Module | None = None, augment: bool = True, speed: nn.Module | None = None) -> None:
        super().__init__()
        self.channel, self.augment, self.speed = channel, augment, speed

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, L) int16 -> (B, L) float32 (channel gain may take it past [-1, 1])."""
        with torch.autocast(device_type=wave.device.type, enabled=False):
            x = wave.float() / 32768.0  # (B, L)
            if self.training and self.augment:
                if self.speed is not None:
                    x = self.speed(x)  # the voice first, then the room and microphone it is heard through
                if self.channel is not None:
                    x = self.channel(x)
            return x
