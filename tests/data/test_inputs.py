"""Each DataModule describes its own inputs: `example_input()` is shaped and typed as the rows its
`loader()` prepares from files (export builds its graph and model.json from this, never from
which keys a config happens to have)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from tests.helpers.config import compose_cfg
from tests.helpers.voices import tone
from voxray.checkpoint import build_data


def prepared_file(kind: str, tmp: Path) -> str:
    if kind == "voice":
        sf.write(tmp / "a.wav", tone(140.0, 1.5, sr=22050), 22050)  # another rate, shorter than a clip
        return str(tmp / "a.wav")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 30), dtype=np.uint8)).save(tmp / "a.png")
    return str(tmp / "a.png")


@pytest.mark.parametrize("experiment, kind", [("voice_mel", "voice"), ("voice_gender", "voice"),
                                              ("xray_pneumonia", "xray")])
def test_example_input_is_shaped_as_a_prepared_file(tmp_path: Path, experiment: str, kind: str) -> None:
    cfg = compose_cfg("train", tmp_path, tmp_path / "cache", [f"experiment={experiment}", "data.clean.denoise=false"]
                      if kind == "voice" else [f"experiment={experiment}", "data.image_size=40"])
    datamodule = build_data(cfg.data)
    row = datamodule.loader()(prepared_file(kind, tmp_path))
    row = row[0] if isinstance(row, tuple) else row
    example = datamodule.example_input(batch=3)
    assert example.shape == (3, *row.shape) and str(example.dtype).removeprefix("torch.") == str(row.dtype)
    steps = datamodule.preparation()
    assert steps["sample_rate" if kind == "voice" else "image_size"] == (16000 if kind == "voice" else 40)
