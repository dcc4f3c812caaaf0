"""Waveform front end: int16 batch -> float in [-1, 1], speed and channel augmentation in training, on device."""

from __future__ import annotations

import torch
from torch import nn

from voxray.features.speech_frames import speech_length


class WaveformFrontEnd(nn.Module):
    """int16 waveform batch -> float32 waveform; a new speaker speed and recording channel per clip in training.

    The raw-waveform input of a speech encoder, and the first step of `VoiceFrontEnd`'s log-mel.

    Args:
        channel: waveform augmentation (`voxray.features.channel.ChannelAugment`), or None for none.
        augment: apply it (and `speed`) in training (True); False for debug=overfit.
        speed: speed perturbation (`voxray.features.speed.SpeedPerturb`), applied before the channel, or None.
        repeat_pad: fill the zeros after a short clip's speech with repeats of it, in training and
            evaluation alike (False: the cache's zero padding stays).

    The samples after a clip's speech stay 0 through the channel augmentation, as at test: no reverb
    tail or noise there, and the speech ends where the statistics downstream take it to end.
    """

    def __init__(
        self, channel: nn.Module | None = None, augment: bool = True, speed: nn.Module | None = None,
        repeat_pad: bool = False,
    ) -> None:
        super().__init__()
        self.channel, self.augment, self.speed, self.repeat_pad = channel, augment, speed, repeat_pad

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, L) int16 -> (B, L) float32 (channel gain may take it past [-1, 1]). A (B, N, 2D) batch
        is a frozen encoder's cached features (`voxray.data.store.encoded`): it passes unchanged."""
        if wave.dim() == 3:
            return wave
        with torch.autocast(device_type=wave.device.type, enabled=False):
            x = wave.float() / 32768.0  # (B, L)
            if self.repeat_pad:
                x = repeat_pad(x)
            if self.training and self.augment:
                if self.speed is not None:
                    x = self.speed(x)  # the voice first, then the room and microphone it is heard through
                if self.channel is not None:
                    speech = torch.arange(x.shape[1], device=x.device) < speech_length(x)[:, None]  # (B, L)
                    x = self.channel(x) * speech  # the padding stays digital silence
            return x

    def describe(self) -> list[str]:
        """The steps of `forward` in evaluation (the exported graph); training-only augmentation is not among them."""
        steps = ["int16 samples / 32768 to a float waveform"]
        if self.repeat_pad:
            steps.append("the speech (up to its last non-zero sample) repeated over the zero padding after it")
        return steps


def repeat_pad(x: torch.Tensor) -> torch.Tensor:
    """(B, L) clips zero-padded at the end -> each clip's samples up to its last non-zero one,
    repeated to fill L (the "wrap" padding of speaker-recognition training, e.g. voxceleb_trainer).

    In the cache a short clip's speech is followed by digital silence; repeated, the speech fills
    the row, and a network sees as much of the voice from a short clip as from a long one.
    """
    idx = torch.arange(x.shape[1], device=x.device)
    length = speech_length(x).clamp_min(1)[:, None]  # (B, 1); 1 for an all-zero clip
    return x.gather(1, idx % length)
