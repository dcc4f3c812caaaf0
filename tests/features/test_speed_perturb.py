from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from tests.helpers.config import compose_cfg
from voxray.features.speed import SpeedPerturb
from voxray.features.waveform import WaveformFrontEnd


def _voice(seconds: float = 3.0, f0: float = 200.0) -> torch.Tensor:
    """(1, 48000) float: `seconds` of a voice-like tone at `f0`, zero-padded to 3 s as the cache stores it."""
    t = np.arange(int(seconds * 16000)) / 16000
    wave = np.zeros(48000, np.float32)
    wave[: len(t)] = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 6)) * 0.3
    return torch.from_numpy(wave)[None]


def _peak_hz(row: torch.Tensor) -> float:
    spectrum = torch.fft.rfft(row).abs()
    return float(spectrum.argmax()) * 16000 / row.shape[0]


def test_speed_perturbation_moves_the_pitch_by_the_speed_in_training_only() -> None:
    torch.manual_seed(0)
    speed = SpeedPerturb(factors=(0.9, 1.1), p=1.0)
    wave = _voice().repeat(64, 1)
    pitches = sorted({round(_peak_hz(row[:24000])) for row in speed.train()(wave)})
    assert pitches == [180, 220], pitches  # both speeds drawn, each exact to the FFT bin
    assert torch.equal(speed.eval()(wave), wave)


def test_a_faster_clip_keeps_the_length_and_ends_in_silence() -> None:
    """1.25 x faster: 3 s of speech become 2.4 s, then the padding's zeros; nothing wraps round."""
    torch.manual_seed(0)
    out = SpeedPerturb(factors=(1.25,), p=1.0).train()(_voice())
    assert out.shape == (1, 48000)
    assert abs(_peak_hz(out[0, :24000]) - 250.0) < 1
    assert out[0, 38600:].abs().max() < 1e-3 < out[0, 38000:38300].abs().mean()


def test_the_front_end_speeds_up_only_clips_it_augments() -> None:
    """`augment=False` (debug=overfit) and evaluation hand the network the clip as recorded."""
    torch.manual_seed(0)
    wave = (_voice() * 32767).to(torch.int16).repeat(8, 1)
    speed = SpeedPerturb(factors=(1.1,), p=1.0)
    moved = WaveformFrontEnd(speed=speed).train()(wave)
    assert {round(_peak_hz(row[:24000])) for row in moved} == {220}
    for front in (WaveformFrontEnd(speed=speed, augment=False).train(), WaveformFrontEnd(speed=speed).eval()):
        assert torch.equal(front(wave), wave.float() / 32768)


def test_gender_trains_with_kaldis_speed_perturbation_and_age_without(tmp_path: Path) -> None:
    """On for gender (README: measured on the real-speech check), 0.9 / 1.1; off for age, and
    the README's override turns it off for gender."""
    def front(experiment: str, *overrides: str) -> torch.nn.Module:
        cfg = compose_cfg("train", tmp_path / "run", tmp_path, [f"experiment={experiment}", *overrides])
        return instantiate(cfg.model.frontend).waveform
    speed = front("voice_gender").speed
    assert isinstance(speed, SpeedPerturb) and speed.factors == [0.9, 1.1]
    assert front("voice_gender", "model.frontend.speed=null").speed is None
    assert front("voice_mel").speed is None and front("voice_age_gender").speed is None


@pytest.mark.parametrize("factors, p", [((1.0,), 0.5), ((0.3,), 0.5), ((), 0.5), ((1.1,), 1.5)])
def test_speed_settings_out_of_range_are_refused(factors: tuple, p: float) -> None:
    with pytest.raises(ValueError):
        SpeedPerturb(factors=factors, p=p)
