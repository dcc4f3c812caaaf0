from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from tests.helpers.voices import tone
from voxray.export import check_onnx
from voxray.features.channel import ChannelAugment
from voxray.features.logmel import LogMel, SpecAugment, VoiceFrontEnd
from voxray.features.periodicity import Periodicity
from voxray.models.mel_cnn import MelCNN


def test_logmel_matches_librosa() -> None:
    x = tone(180.0, seconds=2.5)[:48000]
    ours = LogMel(n_fft=512, win_length=400, hop_length=160, n_mels=64, f_min=20, top_db=80)(
        torch.from_numpy(x)[None]
    )[0, 0].numpy()
    mel = librosa.feature.melspectrogram(
        y=x, sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=64, fmin=20, fmax=8000,
        power=2.0, center=True, pad_mode="reflect", htk=False, norm="slaney",
    )
    ref = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80)
    assert ours.shape == ref.shape == (64, 301)
    assert np.abs(ours - ref).max() < 0.05  # dB; float32 STFT rounding only


def test_top_db_floor_is_per_clip_not_per_batch() -> None:
    loud, quiet = tone(180.0, 2.5)[:48000], tone(180.0, 2.5)[:48000] * 1e-3
    logmel = LogMel()
    both = logmel(torch.from_numpy(np.stack([loud, quiet])))
    alone = logmel(torch.from_numpy(quiet)[None])
    torch.testing.assert_close(both[1], alone[0])


def test_frontend_augments_only_in_training_and_stays_fp32_under_autocast() -> None:
    fe = VoiceFrontEnd(LogMel(n_mels=32), SpecAugment(freq_mask=8, time_mask=40), ChannelAugment())
    wave = torch.from_numpy((tone(150.0, 2.5)[:48000] * 30000).astype(np.int16))[None].repeat(4, 1)
    fe.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a = fe(wave)
    assert a.dtype == torch.float32 and a.shape == (4, 1, 32, 301)
    assert (a == 0).float().mean() > 0.05, "masks present in training"
    assert not torch.equal(a[0], a[1]), "independent masks/channels per example"
    fe.eval()
    b1, b2 = fe(wave), fe(wave)
    torch.testing.assert_close(b1, b2)
    torch.testing.assert_close(b1[0], b1[1])
    assert torch.isfinite(b1).all()


def test_utterance_norm_removes_a_fixed_channel_colour() -> None:
    """A microphone's colour multiplies every frame's spectrum alike: an offset per mel band in dB."""
    clean = tone(150.0, 2.5)[:48000] + 0.3 * tone(1200.0, 2.5)[:48000]
    coloured = np.convolve(clean, [1.0, -0.9])[:48000] * 0.2  # pre-emphasis-like tilt, -14 dB
    wave = torch.from_numpy((np.stack([clean, coloured]) / 2 * 32767).astype(np.int16))
    plain = VoiceFrontEnd(LogMel(n_mels=32)).eval()
    normed = VoiceFrontEnd(LogMel(n_mels=32), utterance_norm=True).eval()
    a, b = plain(wave), normed(wave)
    band_offset = (a[0] - a[1]).mean(dim=-1)  # (1, 32)
    assert band_offset.abs().max() > 10  # dB: the colour is there without normalisation
    inner = slice(5, -5)  # frames away from the reflect-padded edges
    assert (b[0, ..., inner] - b[1, ..., inner]).abs().mean() < 0.2 * (a[0] - a[1]).abs().mean()


@pytest.mark.parametrize("n_masks", [0, 3])
def test_specaugment_mask_count(n_masks: int) -> None:
    x = torch.ones(2, 1, 64, 200)
    y = SpecAugment(freq_mask=10, time_mask=20, n_masks=n_masks)(x)
    assert ((y == 0).any() if n_masks else torch.equal(x, y))


def _band_contrast(logmel: LogMel, f0: float) -> float:
    """Mean dB by which each mel band between 80 Hz and 1 kHz stands out from its two neighbours,
    for a 3-s voice-like tone of `f0` with 1/h harmonics: high where the harmonics are resolved."""
    t = np.arange(3 * 16000) / 16000
    voice = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, int(8000 / f0)))
    bands = logmel(torch.from_numpy(0.1 * voice.astype(np.float32))[None])[0, 0].mean(dim=-1)  # (n_mels,)
    fb = logmel.mel.mel_scale.fb  # (n_freqs, n_mels)
    centre = (fb * torch.linspace(0, 8000, fb.shape[0])[:, None]).sum(0) / fb.sum(0)
    low = bands[(centre > 80) & (centre < 1000)]
    return float((low[1:-1] - (low[:-2] + low[2:]) / 2).abs().mean())


def _configured(experiment: str) -> LogMel:
    """The LogMel that `train.py experiment=<experiment>` builds."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[2] / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}"])
    return instantiate(cfg.model.frontend.logmel)


def test_the_gender_window_resolves_the_harmonics_of_a_low_voice() -> None:
    """The harmonic spacing is the pitch, which a recording channel does not move: the age
    experiment's 25-ms window smears the harmonics of a 100-Hz voice into a flat band (0.7 dB),
    the gender experiment's 64-ms one keeps them apart."""
    gender, age = _configured("voice_gender"), _configured("voice_mel")
    assert _band_contrast(age, 100.0) < 1.5
    assert _band_contrast(gender, 100.0) > 4.0
    assert _band_contrast(gender, 200.0) > _band_contrast(age, 200.0) + 4.0
    assert gender.mel.hop_length == age.mel.hop_length  # same frames: the CNN's cost does not change


def test_repeat_pad_gives_a_short_clip_the_image_of_the_same_voice_held_longer() -> None:
    """In the cache a 0.6-s clip is followed by 2.4 s of zeros: a mean over all its frames per band
    is mostly padding, far from the same voice's over 3 s. Repeated over the padding, it is not."""
    voice = tone(150.0, 3.0, lead=0.0)
    short = np.concatenate([voice[:9600], np.zeros(48000 - 9600)])
    wave = torch.from_numpy((np.stack([voice, short, np.zeros_like(voice)]) * 32767).astype(np.int16))
    gaps = {}
    for repeat in (False, True):
        x = VoiceFrontEnd(LogMel(n_mels=32, hop_length=320), repeat_pad=repeat).eval()(wave)
        assert torch.isfinite(x).all()  # the all-zero clip too
        gaps[repeat] = (x[0].mean(dim=-1) - x[1].mean(dim=-1)).abs().mean().item()  # dB per band
    assert gaps[False] > 20 and gaps[True] < 1.0, gaps


@pytest.mark.parametrize("option", ["pitch", "repeat_pad", "utterance_norm"])
def test_front_end_options_export_to_onnx(tmp_path: Path, option: str) -> None:
    """Front end and network exported with two full clips: the graph matches PyTorch on a full clip,
    short and long speech zero-padded after it, and a silent clip (the speech frames found in-graph)."""
    options = {"pitch": {"pitch": Periodicity(hop_length=320)}, "repeat_pad": {"repeat_pad": True},
               "utterance_norm": {"utterance_norm": True}}[option]
    fe = VoiceFrontEnd(LogMel(n_mels=32, hop_length=320), **options)
    model = torch.nn.Sequential(fe, MelCNN(2, channels=(8, 16), head_rows=64 if option == "pitch" else 0)).eval()
    voice = tone(150.0, 2.5)[:48000]
    clips = np.stack([voice] + [np.where(np.arange(48000) < n, voice, 0) for n in (12000, 30000, 0)])
    waves = torch.from_numpy((clips * 30000).astype(np.int16))
    path = tmp_path / "model.onnx"
    torch.onnx.export(model, (waves[:1].repeat(2, 1),), str(path), input_names=["input"], dynamo=True,
                      dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},), external_data=False)
    assert check_onnx(model, path, waves, atol=1e-3) < 1e-3
