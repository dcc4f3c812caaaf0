"""Speaker embeddings from Resemblyzer's pretrained voice encoder, as baseline features.

The encoder (a 3-layer LSTM trained with the GE2E speaker-verification loss) maps an utterance to
a 256-d L2-normalised d-vector. Its weights ship inside the `resemblyzer` wheel, so this works
offline. `resemblyzer` (and the VAD it imports) is loaded only when embeddings are asked for.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from voxray.data.cache import atomic_write_bytes

ENCODER_RATE = 16000  # Hz: resemblyzer's hparams.sampling_rate
CACHE_VERSION = "1"  # bump when the embedding code changes, so stale caches are not reused
# Resemblyzer's VAD can cut a quiet clip to almost nothing; below this the untrimmed speech is
# embedded instead (the encoder pads anything shorter than its 1.6-s window anyway).
MIN_VAD_SECONDS = 0.5


def load_resemblyzer() -> tuple:
    """(VoiceEncoder, preprocess_wav) from the `resemblyzer` package, or an error naming it."""
    try:
        from resemblyzer import VoiceEncoder, preprocess_wav
    except ImportError as err:
        raise ImportError(
            "baseline=resemblyzer needs the packages `resemblyzer` and `webrtcvad-wheels` "
            f"({err}); `uv sync` installs them (both are project dependencies), or choose "
            "baseline=handcrafted"
        ) from err
    return VoiceEncoder, preprocess_wav


class ResemblyzerFeatures:
    """Baseline extractor: one Resemblyzer embedding per clip, columns emb0..emb255, cached.

    Args:
        sample_rate: rate of the clips in Hz (resampled to the encoder's 16 kHz if different).
        device: torch device of the encoder ("cpu").
        num_threads: torch CPU threads while embedding (1). The LSTM's matrices are small: one
            thread measured 0.04 s per clip, two threads 3.3 s on a busy 2-core machine.
    """

    def __init__(self, sample_rate: int = 16000, device: str = "cpu", num_threads: int = 1) -> None:
        self.sample_rate, self.device, self.num_threads = sample_rate, device, num_threads

    def __call__(self, waves: np.ndarray, durations: np.ndarray, cache_dir: Path) -> pd.DataFrame:
        """(n, L) int16 clips and their speech seconds (n,) -> (n, 256) embeddings."""
        path = Path(cache_dir) / f"resemblyzer_{self._key(waves, durations)}.npz"
        if path.exists():
            with np.load(path) as cached:
                return _frame(cached["values"])
        encoder_class, preprocess = load_resemblyzer()
        encoder = encoder_class(device=self.device, verbose=False)
        values = np.empty((len(waves), 256), dtype=np.float32)
        threads = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            for i in tqdm(range(len(waves)), desc="resemblyzer", unit="clip"):
                n = int(round(durations[i] * self.sample_rate))
                speech = waves[i, : max(n, 1)].astype(np.float32) / 32768.0  # padding is not speech
                wav = preprocess(speech, source_sr=self.sample_rate)
                if len(wav) < MIN_VAD_SECONDS * ENCODER_RATE:
                    wav = librosa.resample(speech, orig_sr=self.sample_rate, target_sr=ENCODER_RATE)
                values[i] = encoder.embed_utterance(wav)
        finally:
            torch.set_num_threads(threads)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:  # a file object: given a path, np.savez appends ".npz"
                np.savez(f, values=values)

        atomic_write_bytes(path, write)
        return _frame(values)

    def _key(self, waves: np.ndarray, durations: np.ndarray) -> str:
        """Hash of the settings, the durations and a strided sample of 64 clips."""
        h = hashlib.sha256(f"{CACHE_VERSION}|{self.sample_rate}|{waves.shape}|{waves.dtype.str}".encode())
        h.update(np.ascontiguousarray(durations, dtype=np.float64).tobytes())
        rows = np.unique(np.linspace(0, len(waves) - 1, num=min(len(waves), 64)).astype(int))
        h.update(np.ascontiguousarray(waves[rows]).tobytes())
        return h.hexdigest()[:20]


def _frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(values, columns=[f"emb{i}" for i in range(values.shape[1])])
