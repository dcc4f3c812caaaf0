"""Statistics over the speech, not the cache's zero padding: a clip's length must not change what
the front end and the network see of its voice."""

import numpy as np
import torch

from voxray.features.channel import ChannelAugment
from voxray.features.logmel import LogMel, VoiceFrontEnd
from voxray.features.periodicity import Periodicity
from voxray.features.speed import SpeedPerturb
from voxray.features.waveform import WaveformFrontEnd
from voxray.models.mel_cnn import MelCNN

HOP = 320


def _voice(f0: float = 150.0) -> np.ndarray:
    """3 s of a steady buzz from its first sample: every harmonic up to 8 kHz at 1/h, so each mel
    band's level is the same in every frame (no noise whose mean over a few frames drifts)."""
    t = np.arange(48000) / 16000
    return sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, int(8000 / f0)))


def _padded(x: np.ndarray, seconds: float) -> np.ndarray:
    """The first `seconds` of `x`, then zeros to 3 s: a cache row."""
    return np.where(np.arange(48000) < int(seconds * 16000), x[:48000], 0.0)


def _int16(*clips: np.ndarray) -> torch.Tensor:
    return torch.from_numpy((np.stack(clips) / np.abs(np.stack(clips)).max() * 30000).astype(np.int16))


def _speech(seconds: float, margin: int = 3) -> slice:
    """Frames inside `seconds` of speech, away from both ends."""
    return slice(margin, int(seconds * 16000) // HOP - margin)


def test_utterance_norm_removes_a_channel_colour_from_a_short_clip() -> None:
    """The colour is each band's mean over the speech: at 0.83 s of speech in 3 s, a mean that took
    in the padding frames would leave half of it in place."""
    voice = _voice()
    coloured = np.convolve(voice, [1.0, -0.9])[:48000] * 0.2  # a tilted microphone, -14 dB
    for seconds in (0.83, 1.34, 3.0):
        wave = _int16(_padded(voice, seconds), _padded(coloured, seconds))
        plain = VoiceFrontEnd(LogMel(n_mels=32, hop_length=HOP)).eval()(wave)
        normed = VoiceFrontEnd(LogMel(n_mels=32, hop_length=HOP), utterance_norm=True).eval()(wave)
        inner = _speech(seconds)
        colour = (plain[0, ..., inner] - plain[1, ..., inner]).mean(dim=-1).abs().mean()
        left = (normed[0, ..., inner] - normed[1, ..., inner]).mean(dim=-1).abs().mean()
        assert colour > 5 and left < 0.02 * colour, (seconds, float(left / colour))


def test_the_same_voice_short_or_long_gives_the_same_normalised_image() -> None:
    """0.8 s and 2.8 s of one steady voice: the same utterance-normalised speech frames."""
    voice = _voice()
    wave = _int16(_padded(voice, 0.8), _padded(voice, 2.8))
    x = VoiceFrontEnd(LogMel(n_mels=32, hop_length=HOP), utterance_norm=True).eval()(wave)
    inner = _speech(0.8)
    assert (x[0, ..., inner] - x[1, ..., inner]).abs().mean() < 0.1  # dB


def test_the_pitch_rows_reach_the_head_as_the_same_statistics_at_any_length() -> None:
    """The head's mean and max of each pitch row over the speech: 0.8 s or 2.8 s of one voice agree."""
    fe = VoiceFrontEnd(LogMel(n_mels=32, hop_length=HOP), pitch=Periodicity(hop_length=HOP)).eval()
    net = MelCNN(2, channels=(8, 16), head_rows=64).eval()
    seen = []
    net.head.register_forward_hook(lambda m, inp, out: seen.append(inp[0][:, -2 * 64:]))
    voice = _voice(120.0)
    net(fe(_int16(_padded(voice, 0.8), _padded(voice, 2.8))))
    short, long = seen[0]  # (2 * 64,): the rows' means, then their maxima
    assert (short - long).abs().max() < 0.02 * long.abs().max(), float((short - long).abs().max() / long.abs().max())


def test_the_per_row_normalisation_learns_from_the_speech_frames() -> None:
    """After one batch of 0.8 s or 2.8 s of one steady voice, the rows' running means agree (in dB,
    0.1 of the batch's: batch norm's momentum) and no variance holds the padding's silence floor."""
    stats = {}
    for seconds in (0.8, 2.8):
        fe = VoiceFrontEnd(LogMel(n_mels=32, hop_length=HOP)).train()
        fe(_int16(_padded(_voice(), seconds)))
        stats[seconds] = fe.norm.running_mean, fe.norm.running_var
    assert (stats[0.8][0] - stats[2.8][0]).abs().max() < 0.05 and stats[2.8][0].abs().max() > 1
    assert stats[0.8][1].max() < 1.5 and stats[2.8][1].max() < 1.5  # from 1: 0.9 x 1 + 0.1 x the batch's


def test_the_network_does_not_see_how_much_padding_follows_the_speech() -> None:
    """Frames that are 0 in every row are the front end's padding: the same speech followed by 16
    or by 112 of them gives the same logits."""
    torch.manual_seed(0)
    net = MelCNN(3, channels=(8, 16), head_rows=4).eval()
    speech = torch.randn(2, 1, 36, 48)
    short, long = (torch.cat([speech, torch.zeros(2, 1, 36, n)], dim=-1) for n in (16, 112))
    torch.testing.assert_close(net(short), net(long), atol=1e-5, rtol=1e-5)


def test_padding_frames_leave_the_front_end_as_zeros_and_follow_speed_perturbation() -> None:
    """The padding's frames are exactly 0 in every row (the network's cue); a clip played 1.25x
    faster has 0.8 s of speech where it had 1 s, 0.8x slower 1.25 s."""
    voice = _voice()
    wave = _int16(_padded(voice, 1.0))
    for factor, seconds in ((None, 1.0), (1.25, 0.8), (0.8, 1.25)):
        speed = SpeedPerturb(factors=(factor,), p=1.0) if factor else None
        fe = VoiceFrontEnd(LogMel(n_mels=32, hop_length=HOP), pitch=Periodicity(hop_length=HOP), speed=speed)
        x = fe.train()(wave)
        speech = x[0, 0].ne(0).any(dim=0)  # (T,)
        n = int(speech.sum())
        assert bool(speech[:n].all()), "the speech frames come first, then only padding"
        assert abs(n - seconds * 16000 / HOP) <= 1, (factor, n)


def test_channel_noise_stays_out_of_the_padding_in_training() -> None:
    """At test the padding is digital silence; training hears the speech through a noisy channel,
    but not a noise-filled padding the test never has."""
    torch.manual_seed(0)
    wave = _int16(_padded(_voice(), 1.0)).repeat(4, 1)
    fe = WaveformFrontEnd(ChannelAugment(p_reverb=0.0, p_eq=0.0, p_resample=0.0, p_noise=1.0)).train()
    y = fe(wave)
    assert y[:, :16000].abs().mean() > 0 and torch.equal(y[:, 16000:], torch.zeros_like(y[:, 16000:]))


def test_a_silent_clip_stays_finite_through_front_end_and_network() -> None:
    fe = VoiceFrontEnd(LogMel(n_mels=32, hop_length=HOP), utterance_norm=True, pitch=Periodicity(hop_length=HOP))
    net = MelCNN(2, channels=(8, 16), head_rows=64)
    wave = torch.cat([_int16(_padded(_voice(), 1.0)), torch.zeros(1, 48000, dtype=torch.int16)])
    for mode in (True, False):
        fe.train(mode), net.train(mode)
        assert torch.isfinite(net(fe(wave))).all()
