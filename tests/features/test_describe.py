"""`describe()`: each front end names the steps its evaluation forward computes (what model.json
tells an ONNX user), generated from its own configured modules, so the two cannot drift apart."""

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from tests.helpers.config import compose_cfg
from voxray.features.xray_augment import XrayFrontEnd
from voxray.models.backbone import create_backbone

BASE = ["experiment=voice_mel", "model.frontend.logmel.n_mels=32"]


def _frontend(tmp_path: Path, *overrides: str, base: list[str] = BASE) -> torch.nn.Module:
    return instantiate(compose_cfg("train", tmp_path, tmp_path, [*base, *overrides]).model.frontend).eval()


def _waves() -> torch.Tensor:
    """A full clip and a 1-s one zero-padded to 3 s, int16."""
    t = np.arange(48000) / 16000
    voice = sum(np.sin(2 * np.pi * h * 140.0 * t) / h for h in range(1, 20)) * 0.1
    clips = np.stack([voice, np.where(t < 1.0, voice, 0.0)])
    return torch.from_numpy((clips * 30000).astype(np.int16))


@pytest.mark.parametrize("overrides, step", [
    (["model.frontend.utterance_norm=true"], "mean over the speech frames subtracted"),
    (["model.frontend.pitch=null"], None),
    (["model.frontend.repeat_pad=true"], "repeated over the zero padding"),
    (["model.frontend.logmel.n_fft=1024", "model.frontend.logmel.win_length=1024"], "1024-sample Hann windows"),
    (["model.frontend.logmel.n_mels=40"], "log-mel: 40 Slaney mel bands"),
])
def test_an_option_that_changes_the_graph_changes_its_description(tmp_path: Path, overrides: list[str],
                                                                  step: str | None) -> None:
    """Toggled alone, each option changes both what forward computes and the description."""
    base, other = _frontend(tmp_path), _frontend(tmp_path, *overrides)
    a, b = base(_waves()), other(_waves())
    assert a.shape != b.shape or not torch.allclose(a, b)
    assert base.describe() != other.describe()
    if step is None:  # an option switched off: its step is gone
        assert any("periodicity" in s for s in base.describe())
        assert not any("periodicity" in s for s in other.describe())
    else:
        assert any(step in s for s in other.describe()) and not any(step in s for s in base.describe())


@pytest.mark.parametrize("override", [
    "+model.frontend.speed._target_=voxray.features.speed.SpeedPerturb", "model.frontend.specaugment=null",
    "model.frontend.channel=null",
])
def test_training_only_augmentation_is_in_neither_the_graph_nor_its_description(tmp_path: Path, override: str) -> None:
    base, other = _frontend(tmp_path), _frontend(tmp_path, override)
    torch.testing.assert_close(base(_waves()), other(_waves()))
    assert base.describe() == other.describe()


@pytest.mark.parametrize("overrides, expected, absent", [
    (["experiment=voice_gender"], ["1024-point", "mean over the speech frames subtracted", "periodicity"],
     ["repeated"]),
    (["model.frontend.pitch=null"], ["log-mel: 32 Slaney", "each of the 32 rows standardised"],
     ["periodicity", "subtracted"]),
    (["model.frontend.repeat_pad=true"], ["repeated over the zero padding", "periodicity", "each of the 96 rows"],
     ["subtracted"]),
    (["model=speech_ssl", "model.frontend.repeat_pad=true"], ["float waveform", "repeated over the zero padding"],
     ["log-mel", "rows"]),
])
def test_each_configuration_describes_its_own_steps(tmp_path: Path, overrides: list[str], expected: list[str],
                                                    absent: list[str]) -> None:
    """voice_gender's graph subtracts each clip's mean log-mel: its description says so."""
    base = BASE if "model=speech_ssl" not in overrides else BASE[:1]
    text = " | ".join(_frontend(tmp_path, *overrides, base=base).describe())
    assert all(s in text for s in expected) and not any(s in text for s in absent), text


def test_the_xray_description_gives_the_normalisation_the_backbone_expects() -> None:
    fe = XrayFrontEnd(crop_size=28, crop_fraction=0.9)
    fe.adapt_to(create_backbone("resnet18", 2, in_chans=1))
    steps = fe.describe()
    assert "centre 0.9 of each side" in steps[1] and "28x28" in steps[1]
    assert f"mean [{round(fe.mean.item(), 4)}], std [{round(fe.std.item(), 4)}]" in steps[-1]
