"""One voice clip before and after cleaning: waveform, zoom, FFT, STFT with f0 and onsets, mel, MFCC."""

from __future__ import annotations

import librosa
import librosa.display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from voxray.features.handcrafted import FeatureParams

ZOOM_S = 0.03  # a 30-ms window shows 3-9 glottal periods of an adult voice
MEL = {"n_fft": 512, "hop_length": 320, "n_mels": 64}  # the CNN front end's defaults (LogMel)


def clip_figure(before: np.ndarray, after: np.ndarray, title: str, params: FeatureParams) -> Figure:
    """Two columns (raw decode | cached row) of six panels each.

    Args:
        before: decoded float32 clip at `params.sample_rate`, (T,).
        after: the prepared clip as float in [-1, 1], (L,).
        title: figure title (speaker, labels).
        params: f0 range, frame and hop of the pYIN track and onsets (the features' settings).
    """
    fig, axes = plt.subplots(6, 2, figsize=(14, 19), layout="constrained")  # room for the suptitle
    for column, (name, y) in enumerate((("before cleaning (decoded file)", before),
                                        ("after cleaning (cached row)", after))):
        _draw(axes[:, column], y.astype(np.float32), params)
        axes[0, column].set_title(name, fontsize=11, fontweight="bold")
    fig.suptitle(title, fontsize=13)
    return fig


def _draw(axes: np.ndarray, y: np.ndarray, params: FeatureParams) -> None:
    """Fill one column of six axes with the views of clip `y`."""
    sr, hop = params.sample_rate, params.hop_length
    onsets = librosa.onset.onset_detect(y=y, sr=sr, hop_length=hop, units="time")
    f0, voiced, _ = librosa.pyin(y, fmin=params.fmin, fmax=params.fmax, sr=sr,
                                 frame_length=params.frame_length, hop_length=hop,
                                 resolution=params.pyin_resolution)
    t = np.arange(len(y)) / sr
    axes[0].plot(t, y, lw=0.4, color="tab:blue")
    axes[0].vlines(onsets, -1, 1, colors="tab:red", lw=0.8, linestyles="--", label="onsets")
    axes[0].set(xlim=(0, t[-1]), ylim=(-1.05, 1.05), xlabel="s", ylabel="amplitude")
    axes[0].legend(loc="upper right", fontsize=7)
    _zoom(axes[1], y, sr)
    _spectrum(axes[2], y, sr)

    stft_db = librosa.amplitude_to_db(np.abs(librosa.stft(y, n_fft=params.frame_length, hop_length=hop)),
                                      ref=np.max)
    _image(axes[3], stft_db, sr, hop, "log", "STFT (dB), pYIN f0 (cyan) and onsets (white)")
    times = librosa.times_like(f0, sr=sr, hop_length=hop)
    axes[3].plot(times, np.where(voiced, f0, np.nan), color="cyan", lw=1.5)
    axes[3].vlines(onsets, 0, sr / 2, colors="white", lw=0.6, linestyles="--")
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, **MEL), ref=np.max)
    _image(axes[4], mel, sr, MEL["hop_length"], "mel", f"log-mel ({MEL['n_mels']} bands, dB)")
    mfcc = librosa.feature.mfcc(S=mel, n_mfcc=params.n_mfcc)
    _image(axes[5], mfcc, sr, MEL["hop_length"], None, f"MFCC 0-{params.n_mfcc - 1}")
    axes[5].set(ylabel="coefficient", yticks=np.arange(params.n_mfcc) + 0.5,
                yticklabels=[str(i) for i in range(params.n_mfcc)])


def _zoom(ax: Axes, y: np.ndarray, sr: int) -> None:
    """A ZOOM_S window around the loudest 30 ms, where the voice's periodicity is clearest."""
    n = int(ZOOM_S * sr)
    energy = np.convolve(y**2, np.ones(n), mode="valid") if len(y) > n else np.array([0.0])
    start = int(np.argmax(energy))
    window = y[start : start + n]
    ms = (start + np.arange(len(window))) / sr * 1000
    ax.plot(ms, window, ".-", lw=0.6, ms=1.5)
    ax.set(xlabel="ms", ylabel="amplitude", title=f"zoom: loudest {ZOOM_S * 1000:.0f} ms")


def _spectrum(ax: Axes, y: np.ndarray, sr: int) -> None:
    """FFT magnitude of the whole clip (Hann window) in dB on a log frequency axis."""
    magnitude = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / sr)
    db = 20 * np.log10(np.maximum(magnitude, 1e-10) / max(magnitude.max(), 1e-10))
    ax.semilogx(freqs[1:], db[1:], lw=0.4)
    ax.set(xlim=(20, sr / 2), ylim=(max(db.min(), -100), 3), xlabel="Hz", ylabel="dB",
           title="FFT magnitude (log frequency)")


def _image(ax: Axes, values: np.ndarray, sr: int, hop: int, y_axis: str | None, title: str) -> None:
    """A time-frequency image with librosa's axes and a compact colour bar."""
    mesh = librosa.display.specshow(values, sr=sr, hop_length=hop, x_axis="time", y_axis=y_axis,
                                    ax=ax, cmap="magma")
    plt.colorbar(mesh, ax=ax, pad=0.01, fraction=0.03)
    ax.set_title(title)
