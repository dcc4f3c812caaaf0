import numpy as np
import pytest
import torch
from scipy.signal import butter, sosfilt

from tests.helpers.voices import tone
from voxray.features.logmel import LogMel, VoiceFrontEnd
from voxray.features.periodicity import Periodicity


def _pitch_of(periodicity: Periodicity, x: np.ndarray) -> tuple[float, float]:
    """The pitch row with the highest mean over the voiced frames, and that mean."""
    rows = periodicity(torch.from_numpy(x.astype(np.float32))[None])[0, 0]  # (n_bins, T)
    voiced = rows[:, 30:130].mean(dim=1)  # frames 0.6-2.6 s: inside the tone
    pitches = np.geomspace(65.0, 500.0, periodicity.n_bins)
    return float(pitches[int(voiced.argmax())]), float(voiced.max())


@pytest.mark.parametrize("f0", [95.0, 140.0, 210.0, 320.0])
def test_the_strongest_pitch_row_is_the_voice_pitch_through_any_channel(f0: float) -> None:
    """A quiet take, a telephone band (300-3400 Hz: no fundamental left) and a tilted microphone
    all keep the period: the peak stays within one bin (~3.3%) of f0, near 1."""
    periodicity = Periodicity(hop_length=320)
    clean = tone(f0, seconds=2.5)
    phone = sosfilt(butter(4, [300, 3400], btype="bandpass", fs=16000, output="sos"), clean)
    tilted = np.convolve(clean, [1.0, -0.9])[: len(clean)]
    for x in (clean, 0.01 * clean, phone, tilted):
        pitch, score = _pitch_of(periodicity, x)
        assert abs(np.log(pitch / f0)) < np.log(500 / 65) / 63 * 1.01
        assert score > 0.8


def test_noise_and_silence_score_near_zero() -> None:
    periodicity = Periodicity()
    noise = np.random.default_rng(0).standard_normal(48000) * 0.1
    rows = periodicity(torch.from_numpy(np.stack([noise, np.zeros(48000)]).astype(np.float32)))
    assert rows.shape == (2, 1, 64, 151)
    assert rows[0].mean(dim=-1).abs().max() < 0.05  # no lag repeats on average
    assert torch.equal(rows[1], torch.zeros_like(rows[1]))  # silence: 0, not NaN


def test_pitch_rows_join_the_mel_bands_and_keep_a_steady_pitch_under_utterance_norm() -> None:
    """Utterance normalisation removes each mel band's mean over time, the channel's colour; the
    pitch rows come after it, so a speaker's steady pitch, which is also a mean over time, stays."""
    fe = VoiceFrontEnd(LogMel(n_mels=32, hop_length=320), utterance_norm=True, pitch=Periodicity(hop_length=320))
    waves = torch.from_numpy((np.stack([tone(110.0, 2.5), tone(220.0, 2.5)])[:, :48000] * 30000).astype(np.int16))
    fe.train()
    fe(waves)  # running statistics for the per-row normalisation
    x = fe.eval()(waves)
    assert x.shape == (2, 1, 32 + 64, 151)
    mel, pitch = x[:, 0, :32], x[:, 0, 32:]
    assert mel.mean(dim=-1).abs().max() < 1.0  # normalised away (up to the BN's scale)
    # A 220-Hz voice also repeats every 2 periods (its 110-Hz row is high too); a 110-Hz voice is
    # in opposite phase after half its period, so the 220-Hz row tells the two apart.
    row = int(np.argmin(np.abs(np.geomspace(65, 500, 64) - 220.0)))
    assert pitch[1, row].mean() > pitch[0, row].mean() + 1.0


def test_pitch_frames_must_be_the_mel_frames() -> None:
    with pytest.raises(ValueError, match="pitch.hop_length=160 must equal logmel.hop_length=320"):
        VoiceFrontEnd(LogMel(hop_length=320), pitch=Periodicity(hop_length=160))
    with pytest.raises(ValueError, match="use at least 493 samples"):
        Periodicity(win_length=400)
