"""Periodicity image: each frame's normalised autocorrelation at the lags of pitches fmin..fmax, on device.

A voice's pitch is the lag at which its waveform repeats. The autocorrelation there stays near 1
whatever microphone, room colour or band limit the voice came through (a fixed filter changes the
harmonics' levels, not their spacing), while a log-mel image resolves the harmonics of a low voice
only coarsely. Rows are pitches (log-spaced, low to high, like mel bands); stacked under the log-mel
image, they give the CNN the evidence the hand-crafted baseline takes from pYIN.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def _cosine_lags(n_fft: int, lags: np.ndarray) -> np.ndarray:
    """(n_fft // 2 + 1, len(lags)) weights w_k cos(2 pi k lag / n_fft) / n_fft: a one-sided power
    spectrum times this is the autocorrelation at those lags, fractional ones interpolated exactly
    for a band-limited frame (the inverse real DFT evaluated where it is needed)."""
    k = np.arange(n_fft // 2 + 1)[:, None]
    w = np.where((k == 0) | (k == n_fft // 2), 1.0, 2.0)
    return w * np.cos(2 * np.pi * k * lags[None, :] / n_fft) / n_fft


class Periodicity(nn.Module):
    """Waveform -> autocorrelation at pitch lags, normalised as in Boersma (1993), per frame.

    Each Hann-windowed frame's autocorrelation is divided by its value at lag 0 and by the window's
    own normalised autocorrelation, which undoes the window's taper: a periodic frame scores ~1 at
    its period (and at multiples of it), noise ~0, silence 0.

    Args:
        sample_rate: Hz (16000).
        hop_length: frame hop in samples; must be the log-mel's, so the frames line up (320).
        win_length: frame length (1024 = 64 ms: four periods of the lowest pitch at 16 kHz).
        fmin, fmax: lowest and highest pitch, Hz (65 and 500, the hand-crafted baseline's pYIN range).
        n_bins: pitches, log-spaced from fmin to fmax (64).
    """

    def __init__(
        self, sample_rate: int = 16000, hop_length: int = 320, win_length: int = 1024, fmin: float = 65.0,
        fmax: float = 500.0, n_bins: int = 64,
    ) -> None:
        super().__init__()
        if not 0 < fmin < fmax <= sample_rate / 2:
            raise ValueError(f"need 0 < fmin < fmax <= sample_rate / 2, got fmin={fmin}, fmax={fmax}")
        if win_length < 2 * sample_rate / fmin:
            raise ValueError(f"win_length={win_length} holds under two periods of fmin={fmin} Hz; "
                             f"use at least {int(np.ceil(2 * sample_rate / fmin))} samples")
        self.hop_length, self.win_length, self.n_bins = hop_length, win_length, n_bins
        self.fmin, self.fmax = fmin, fmax
        # twice the frame: zero padding makes the DFT's circular autocorrelation the linear one
        self.n_fft = 2 * win_length
        lags = sample_rate / np.geomspace(fmin, fmax, n_bins)  # (n_bins,) samples, long to short
        lags = np.concatenate([[0.0], lags])  # lag 0: the frame's energy
        window = np.hanning(win_length + 1)[:-1]  # periodic Hann, as torch.hann_window
        # the window's autocorrelation at fractional lags, from the same cosine sum as the frames'
        cosines = _cosine_lags(self.n_fft, lags)  # (n_fft / 2 + 1, 1 + n_bins)
        window_acf = np.abs(np.fft.rfft(window, n=self.n_fft)) ** 2 @ cosines
        self.register_buffer("window", torch.hann_window(win_length))
        self.register_buffer("cosines", torch.from_numpy(cosines).float())
        self.register_buffer("window_acf", torch.from_numpy(window_acf[1:] / window_acf[0]).float())

    def describe(self) -> str:
        """This transform's settings, in words."""
        return (f"{self.n_bins} periodicity (pitch) rows: each {self.win_length}-sample Hann frame's "
                f"autocorrelation, normalised, at the periods of {self.fmin:g}-{self.fmax:g} Hz (log-spaced)")

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, L) float waveform -> (B, 1, n_bins, T) with T = 1 + L // hop_length, rows low to high pitch."""
        with torch.autocast(device_type=wave.device.type, enabled=False):
            spec = torch.stft(wave.float(), self.n_fft, self.hop_length, self.win_length, self.window,
                              center=True, pad_mode="reflect", return_complex=True)  # (B, n_fft/2+1, T)
            acf = torch.einsum("bkt,kl->blt", spec.abs() ** 2, self.cosines)  # (B, 1 + n_bins, T)
            energy = acf[:, :1].clamp_min(1e-10)  # silent frames (zero padding) score 0, not NaN
            acf = acf[:, 1:] / energy / self.window_acf[:, None]  # (B, n_bins, T)
            return acf.unsqueeze(1)  # rows: lags long to short = pitches low to high, as mel bands go
