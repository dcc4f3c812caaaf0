"""Whisper's encoder on short clips: the clip alone with its positional embeddings cut to its frames,
the whole 3-s row (its zero padding included), or a 30-s padded window as Whisper was trained.

Each clip of the real-speech corpus (`python -m experiments.real_speech`) is prepared as training
prepares it; every hidden state is mean-pooled over the clip's speech frames; a logistic regression
per state (and on all states side by side) is trained on each fold's train + dev speakers and
scored on its test speakers (clip UAR, AUROC). Prints a table per input and the seconds per clip.

    uv run --group hub python -m experiments.whisper_input --source .cache/whisper-base
    uv run --group hub python -m experiments.whisper_input --source DIR --inputs speech row
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.preprocessing import StandardScaler

from voxray.data.cache import SkipFile
from voxray.data.voice.audio import CleanParams, load_clip
from voxray.features.speech_frames import speech_length
from voxray.models.hub_encoder import HubEncoder

INPUTS = ("speech", "row", "window30")


def pooled_states(encoder: HubEncoder, clip: np.ndarray, how: str) -> np.ndarray:
    """(N, D): each hidden state's mean over the frames of the clip's speech."""
    wave = torch.from_numpy(clip).float()[None] / 32768.0
    n = int(speech_length(wave)[0])
    frames = -(-(n // 160) // 2)  # the encoder frames inside the speech: 10-ms mel frames, stride 2
    if how == "speech":
        states, frames = encoder.states(wave[:, :n]), None
    elif how == "row":
        states = encoder.states(wave)
    else:
        states = encoder.states(F.pad(wave, (0, 30 * 16000 - wave.shape[1])))
    return np.stack([h[0, :frames].mean(0).numpy() for h in states])


def scores(x: np.ndarray, y: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    scaler = StandardScaler().fit(x[~test])
    model = LogisticRegression(C=0.1, max_iter=3000).fit(scaler.transform(x[~test]), y[~test])
    p = model.predict_proba(scaler.transform(x[test]))[:, 1]
    return balanced_accuracy_score(y[test], p > 0.5), roc_auc_score(y[test], p)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.whisper_input", description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="a Whisper model: hub id or local folder")
    parser.add_argument("--corpus", type=Path, default=Path(".cache/real_speech/corpus"))
    parser.add_argument("--inputs", nargs="+", choices=INPUTS, default=list(INPUTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    encoder = HubEncoder(args.source).eval()
    table = pd.read_csv(args.corpus / "validated.tsv", sep="\t")
    clips = {}
    for path in table["path"]:
        try:
            clips[path] = load_clip(str(args.corpus / "clips" / path), CleanParams())[0]
        except SkipFile as err:  # as training skips it
            print(f"skipped {path}: {err}")
    table = table[table["path"].isin(clips)].reset_index(drop=True)
    y = table["gender"].str.startswith("male").to_numpy()
    folds = sorted(args.corpus.glob("fold*"))
    tested = [table["path"].isin(pd.read_csv(f / "test.tsv", sep="\t")["path"]).to_numpy() for f in folds]
    for how in args.inputs:
        start = time.perf_counter()
        with torch.inference_mode():
            x = np.stack([pooled_states(encoder, clips[p], how) for p in table["path"]])  # (clips, N, D)
        seconds = (time.perf_counter() - start) / len(clips)
        print(f"\n{how}: {seconds:.2f} s per clip\n\n| states | clip UAR per fold | mean | AUROC, mean |\n"
              "| --- | --- | --- | --- |")
        for name, feats in [("all", x.reshape(len(x), -1)), *((f"{i}", x[:, i]) for i in range(x.shape[1]))]:
            got = np.array([scores(feats, y, t) for t in tested])
            print(f"| {name} | {', '.join(f'{u:.3f}' for u in got[:, 0])} | {got[:, 0].mean():.3f} | "
                  f"{got[:, 1].mean():.3f} |", flush=True)


if __name__ == "__main__":
    main()
