"""The synthetic corpus' recording channels and its Common Voice shape (long tail, blank ages)."""

from dataclasses import replace

import numpy as np
import pytest

from voxray.synth.channel import apply_channel, sample_channel
from voxray.synth.voice import assign_speakers, clip_counts

SR = 16000


def _band_share(x: np.ndarray, lo: float, hi: float = SR / 2) -> float:
    """Share of the power of x between lo and hi Hz."""
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return float(power[(f >= lo) & (f < hi)].sum() / power.sum())


def _envelope_db(x: np.ndarray) -> np.ndarray:
    """Log power in 32 bands from 100 Hz to 7 kHz: the channel's colour."""
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    edges = np.geomspace(100, 7000, 33)
    return np.array([10 * np.log10(power[(f >= a) & (f < b)].mean()) for a, b in zip(edges, edges[1:])])


def _channel(device: str, seed: int = 0):
    """The first drawn channel of that device kind."""
    for i in range(1000):
        channel = sample_channel(np.random.default_rng([seed, i]))
        if channel.device == device:
            return channel
    raise AssertionError(device)


def test_phone_channel_is_narrowband_and_usb_is_not() -> None:
    rng = np.random.default_rng(0)
    dry = rng.standard_normal(SR)  # white: every band starts with its share of the power
    phone = apply_channel(dry, 1.0, replace(_channel("phone"), snr_db=60.0, hum_db=None), SR, rng)
    usb = apply_channel(dry, 1.0, replace(_channel("usb"), snr_db=60.0, hum_db=None), SR, rng)
    assert _band_share(phone, 4200) < 1e-3  # 8 kHz recording: nothing above its Nyquist
    assert _band_share(usb, 4200) > 0.1
    assert _band_share(phone, 0, 150) < _band_share(dry, 0, 150) / 10  # telephone low cut


def test_one_channel_colours_every_clip_alike_and_channels_differ() -> None:
    """The confound the corpus models: a speaker's clips share a colour that others lack."""
    rng = np.random.default_rng(1)
    a, b = sample_channel(np.random.default_rng(10)), sample_channel(np.random.default_rng(11))
    clip = [apply_channel(rng.standard_normal(2 * SR), 1.0, a, SR, rng) for _ in range(2)]
    other = apply_channel(rng.standard_normal(2 * SR), 1.0, b, SR, rng)

    def spread(x: np.ndarray, y: np.ndarray) -> float:
        d = _envelope_db(x) - _envelope_db(y)
        return float(np.std(d - d.mean()))  # shape difference, level aside

    assert spread(clip[0], clip[1]) < 2.0
    assert spread(clip[0], other) > 2 * spread(clip[0], clip[1])


def test_noise_and_level_follow_the_channel() -> None:
    rng = np.random.default_rng(2)
    channel = replace(_channel("usb"), snr_db=20.0, noise_alpha=0.0, hum_db=None, room_decay_s=None, peaks=(),
                      presence_db=0.0, highpass_hz=50.0)
    speech = np.sin(2 * np.pi * 440 * np.arange(SR) / SR)
    x = np.concatenate([np.zeros(SR), speech])
    out = apply_channel(x, float(np.sqrt(np.mean(speech**2))), channel, SR, rng)
    snr = 10 * np.log10(np.mean(out[SR:] ** 2) / np.mean(out[: SR // 2] ** 2))
    assert 17 - 0.5 <= snr <= 23 + 0.5  # the channel's 20 dB, +-3 dB take to take
    level = 20 * np.log10(np.sqrt(np.mean(out[SR:] ** 2)))
    assert abs(level - channel.level_db) <= 3.5


def test_clip_counts_have_common_voices_long_tail() -> None:
    counts = clip_counts(2000, 1, 60, 1.8, np.random.default_rng(0))
    assert counts.min() >= 1 and counts.max() <= 60
    assert np.median(counts) <= 2  # most contributors record one or two clips
    top = np.sort(counts)[::-1][:20]  # the top 1% of speakers
    assert top.sum() / counts.sum() > 0.08 and top.min() >= 20
    flat = clip_counts(2000, 3, 6, 0.0, np.random.default_rng(0))
    assert set(np.unique(flat)) == {3, 4, 5, 6}


@pytest.mark.parametrize("share", [0.0, 0.25])
def test_blank_age_speakers_keep_their_gender(share: float) -> None:
    speakers = assign_speakers(400, seed=0, blank_age_share=share)
    blank = [s for s in speakers if s.age == ""]
    assert len(blank) == round(share * 400)
    labelled = [s for s in blank if s.gender in ("male_masculine", "female_feminine")]
    assert len(labelled) >= 0.9 * len(blank)
