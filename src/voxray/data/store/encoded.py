"""A frozen encoder's features of every row of a store, in a store of their own.

Built like the audio store (parts, chunk files, resumable, no lock, a progress bar in files/s),
from the audio store's rows rather than from the files: row i of the encoded store is the
features of row i of the audio store. Its key is the audio store's key, the encoder's
fingerprint (its weights' hash, its pooling, its code version) and this format: other weights,
another pooling or other audio give another store.

    <cache>/encoded/<key>/    the store's files (`voxray.data.store.build`)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from voxray.data.cache import PreparedArray, cache_key
from voxray.data.store.build import open_rows, prepare_store
from voxray.data.store.rows import ShardError

ENCODED_FORMAT = "encoded-1"  # bump when the rows below change for the same encoder and audio


class EncodedRows:
    """The `load` of an encoded store: a prepared file's path -> its features (N, 2D) float32.

    Args:
        audio: the audio store's folder (int16 rows). kept: its prepared files (path, row).
        encoder: a module with `embed((B, L) float waveform) -> (B, N, 2D)`
        (`voxray.models.hub_encoder.HubEncoder`). device: where it runs.
    """

    def __init__(self, audio: Path, kept: pd.DataFrame, encoder: nn.Module, device: torch.device) -> None:
        self.audio, self.encoder, self.device = Path(audio), encoder.to(device).eval(), device
        self._rows = open_rows(self.audio)
        self._row_of = dict(zip(kept["path"], kept["row"], strict=True))

    def __call__(self, path: str) -> np.ndarray:
        wave = torch.from_numpy(np.array(self._rows[self._row_of[path]])).to(self.device)
        with torch.inference_mode():  # int16 / 32768: the waveform front end's evaluation step
            return self.encoder.embed(wave[None].float() / 32768.0)[0].cpu().numpy()


def _kept(audio: Path) -> pd.DataFrame:
    """The audio store's prepared files, in row order."""
    manifest = pd.read_parquet(audio / "manifest.parquet", columns=["path", "row"])
    return manifest[manifest["row"] >= 0].sort_values("row").reset_index(drop=True)


def encoded_store(cache_dir: Path, audio: Path, net_factory: Callable[..., nn.Module], part_size: int,
                  desc: str = "encoding") -> PreparedArray:
    """The encoded store of the audio store `audio`, prepared first where it is not complete.

    `net_factory(num_classes=...)` builds the network whose `.encoder` makes the features (the
    model's `model.net`); it runs here on the GPU when there is one, one clip at a time.
    """
    encoder = net_factory(num_classes=2).encoder
    folder = Path(cache_dir) / "encoded" / cache_key(Path(audio).name, encoder.fingerprint, ENCODED_FORMAT)
    kept = _kept(Path(audio))
    shape = (encoder.num_states, 2 * encoder.dim)
    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    load = None if (folder / "store.json").exists() else EncodedRows(Path(audio), kept, encoder, device)
    prepared = prepare_store(kept[["path"]], load, shape, "float32", folder, num_workers=0, desc=desc,
                             part_size=part_size, max_skip_fraction=0.0)
    assert prepared is not None, "a preparation of every part returns the store"
    if len(prepared.data) != len(kept) or not prepared.index["path"].equals(kept["path"]):
        raise ShardError(f"{folder} holds other rows than the audio store {audio}: delete it to encode again")
    return prepared

