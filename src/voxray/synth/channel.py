"""Recording channels of the synthetic corpus: the device, room and place a contributor records in.

In crowd-sourced speech each speaker records every clip through their own channel: a phone at
8 kHz through a G.711-like codec, a headset that cuts the highs, a laptop microphone in a hard
room, a good USB microphone. A model trained on such data can learn the channel instead of the
voice, so the corpus draws one `Channel` per speaker (speaker and channel confounded, as in Common
Voice) or one per clip (the switch `speaker_channels`). Each clip still varies a little around its
channel: the noise and level drift from take to take.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft, signal

# Device kinds and their shares among contributors.
DEVICES: tuple[str, ...] = ("phone", "headset", "laptop", "usb")
DEVICE_SHARES: tuple[float, ...] = (0.15, 0.3, 0.3, 0.25)


@dataclass(frozen=True)
class Channel:
    """One recording set-up; every field is fixed across the clips recorded through it."""

    device: str  # one of DEVICES
    highpass_hz: float  # the microphone's low cut
    lowpass_hz: float | None  # a band limit (telephone 3.4 kHz, headsets 4-7 kHz), None = none
    narrowband: bool  # recorded at 8 kHz with mu-law companding (G.711), then upsampled
    peaks: tuple[tuple[float, float, float], ...]  # microphone/room colour: (Hz, gain dB, Q)
    presence_db: float  # gain of a broad band around 4 kHz: a brighter or duller microphone (dB)
    room_decay_s: float | None  # time constant of the room's reverberant tail, None = dry
    room_wet: float  # reverberant-to-direct amplitude ratio
    noise_alpha: float  # background noise colour: power ~ 1/f^alpha (0 white, 1 pink, 2 brown)
    snr_db: float  # background noise level under speech (dB), the channel's centre
    hum_db: float | None  # mains hum under speech (dB), None = no hum
    mains_hz: float  # the mains frequency of the hum (50 or 60 Hz)
    level_db: float  # recording level of speech RMS (dBFS), the channel's centre


def sample_channel(rng: np.random.Generator) -> Channel:
    """Draw one recording set-up."""
    device = str(rng.choice(DEVICES, p=DEVICE_SHARES))
    lowpass = {"phone": 3400.0, "headset": rng.uniform(4000, 7000), "laptop": rng.uniform(6000, 9000),
               "usb": None}[device]
    n_peaks = int(rng.integers(1, 4)) if device != "usb" else int(rng.integers(0, 2))
    peaks = tuple(
        (float(np.exp(rng.uniform(np.log(200), np.log(5000)))), float(rng.uniform(-9, 9)), float(rng.uniform(0.7, 3)))
        for _ in range(n_peaks)
    )
    hard_room = device == "laptop" or rng.random() < 0.3
    return Channel(
        device=device,
        highpass_hz=float(rng.uniform(200, 350) if device == "phone" else rng.uniform(50, 180)),
        lowpass_hz=lowpass,
        narrowband=device == "phone",
        peaks=peaks,
        presence_db=float(rng.uniform(-8, 4)),
        room_decay_s=float(rng.uniform(0.03, 0.12)) if hard_room else None,
        room_wet=float(rng.uniform(0.1, 0.4)),
        noise_alpha=float(rng.uniform(0, 2)),
        snr_db=float(rng.uniform(12, 35)),
        hum_db=float(rng.uniform(22, 40)) if rng.random() < 0.25 else None,
        mains_hz=float(rng.choice([50.0, 60.0])),
        level_db=float(rng.uniform(-30, -14)),
    )


def _peaking_sos(freq: float, gain_db: float, q: float, sr: int) -> np.ndarray:
    """RBJ peaking equaliser as one second-order section, shape (1, 6)."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * min(freq, 0.45 * sr) / sr
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b, den])[None] / den[0]


def _coloured_noise(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise with power spectrum ~ 1/f^alpha."""
    m = fft.next_fast_len(n, real=True)  # a clip's length can be prime: its FFT then costs 20x more
    spectrum = fft.rfft(rng.standard_normal(m))
    f = fft.rfftfreq(m)
    f[0] = f[1]
    noise = fft.irfft(spectrum * f ** (-alpha / 2), m)[:n]
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def _mulaw_8k(x: np.ndarray, sr: int) -> np.ndarray:
    """Down to 8 kHz, 8-bit mu-law companding (G.711), and back to sr."""
    narrow = signal.resample_poly(x, 8000, sr)
    peak = max(np.max(np.abs(narrow)), 1e-12)
    y = np.clip(narrow / peak, -1, 1)
    mu = 255.0
    code = np.round(np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu) * 127) / 127
    y = np.sign(code) * np.expm1(np.abs(code) * np.log1p(mu)) / mu * peak
    return signal.resample_poly(y, sr, 8000)[: len(x)]


def apply_channel(x: np.ndarray, speech_rms: float, channel: Channel, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Record the dry clip `x` (float64, (n,)) through `channel`; returns float64 (n,), not clipped.

    Args:
        x: the dry clip (speech with its silences).
        speech_rms: RMS of the speech part, the reference for noise and level.
        channel: the recording set-up.
        sr: sample rate (Hz).
        rng: this clip's generator (take-to-take drift of noise and level, the room's tail).
    """
    if channel.room_decay_s is not None:  # exponentially decaying noise tail as impulse response
        m = int(5 * channel.room_decay_s * sr)
        tail = rng.standard_normal(m) * np.exp(-np.arange(m) / (channel.room_decay_s * sr))
        x = x + channel.room_wet * signal.fftconvolve(x, tail / np.sqrt(np.sum(tail**2)))[: len(x)]
    snr = channel.snr_db + rng.uniform(-3, 3)  # the room's noise, heard through the microphone
    x = x + _coloured_noise(len(x), channel.noise_alpha, rng) * speech_rms * 10 ** (-snr / 20)
    sos = [signal.butter(2, channel.highpass_hz, "highpass", fs=sr, output="sos")]
    sos += [_peaking_sos(f, g, q, sr) for f, g, q in channel.peaks]
    sos.append(_peaking_sos(4000.0, channel.presence_db, 0.5, sr))
    if channel.lowpass_hz is not None and channel.lowpass_hz < 0.45 * sr:
        sos.append(signal.butter(6, channel.lowpass_hz, "lowpass", fs=sr, output="sos"))
    x = signal.sosfilt(np.concatenate(sos), x)
    if channel.hum_db is not None:  # electrical: after the microphone
        t = np.arange(len(x)) / sr
        hum = sum(np.sin(2 * np.pi * k * channel.mains_hz * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3))
        x = x + hum * speech_rms * 10 ** (-channel.hum_db / 20)
    if channel.narrowband and sr > 8000:
        x = _mulaw_8k(x, sr)
    return x * 10 ** ((channel.level_db + rng.uniform(-3, 3)) / 20) / speech_rms
