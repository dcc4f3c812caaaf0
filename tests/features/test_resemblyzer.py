"""Speaker embeddings of Resemblyzer's pretrained encoder, as baseline features."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.voices import tone
from voxray.features.resemblyzer import ResemblyzerFeatures, load_resemblyzer


def test_missing_resemblyzer_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "resemblyzer", None)  # makes `import resemblyzer` fail
    with pytest.raises(ImportError, match="resemblyzer.*webrtcvad-wheels.*baseline=handcrafted"):
        load_resemblyzer()


def test_resemblyzer_embeds_each_clip_and_caches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clips = [tone(f0, seconds=2.0) for f0 in (110.0, 120.0, 220.0)]  # 2.8 s each, with silences
    waves = np.stack([np.round(c / np.abs(c).max() * 0.9 * 32767).astype(np.int16) for c in clips])
    embed = ResemblyzerFeatures(sample_rate=16000)
    first = embed(waves, np.array([2.8, 2.8, 2.8]), tmp_path)
    assert first.shape == (3, 256) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-4)
    # the two low voices are closer to each other than to the high one
    similarity = first.to_numpy() @ first.to_numpy().T
    assert similarity[0, 1] > similarity[0, 2]
    monkeypatch.setattr("voxray.features.resemblyzer.load_resemblyzer", lambda: pytest.fail("cache not used"))
    assert np.array_equal(embed(waves, np.array([2.8, 2.8, 2.8]), tmp_path), first)
