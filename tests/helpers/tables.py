"""Seeded random clip tables shaped like Common Voice (long-tailed clips per speaker, blank ages,
speakers whose clips disagree on a label), and a fingerprint that pins a function's exact output."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

AGES = ["teens", "twenties", "thirties", "fourties", "fifties", "sixties", "seventies", "nineties", ""]
AGE_WEIGHTS = [0.08, 0.25, 0.16, 0.1, 0.07, 0.04, 0.03, 0.01, 0.26]  # about a quarter blank
GENDERS = ["male_masculine", "female_feminine", "male", "female", "", "do_not_wish_to_say", "intersex"]
GENDER_WEIGHTS = [0.4, 0.15, 0.15, 0.05, 0.2, 0.03, 0.02]
AGE_MAP = {"teens": "teens", "twenties": "twenties", "thirties": "thirties", "fourties": "fourties",
           "fifties": "fifties", "sixties": "sixties+", "seventies": "sixties+", "eighties": "sixties+",
           "nineties": "sixties+"}  # conf/data/voice.yaml's
AGE_CLASSES = ["teens", "twenties", "thirties", "fourties", "fifties", "sixties+"]
GENDER_MAP = {"female": "female", "female_feminine": "female", "male": "male", "male_masculine": "male"}
GENDER_CLASSES = ["female", "male"]


def clips_per_speaker(n_speakers: int, rng: np.random.Generator, cap: int = 300) -> np.ndarray:
    """Most speakers record one or two clips, a few hundreds (P(k) ~ k^-1.8)."""
    return np.minimum(rng.zipf(1.8, n_speakers), cap)


def speaker_ids(n: int, rng: np.random.Generator) -> list[str]:
    """Distinct ids of mixed length and case, so that sorting them as text matters."""
    return [f"{'S' if i % 7 == 0 else 's'}{i}-{rng.integers(0, 10**rng.integers(1, 6))}" for i in range(n)]


def label_table(seed: int, n_speakers: int = 300, n_classes: int = 4, mixed: float = 0.15,
                text_labels: bool = False) -> pd.DataFrame:
    """Columns group and label (ints, or text), rows shuffled under a scrambled index. A `mixed`
    share of speakers draw each clip's label from two classes, so majorities often tie."""
    rng = np.random.default_rng(seed)
    sizes = clips_per_speaker(n_speakers, rng)
    groups, labels = [], []
    for speaker, k in zip(speaker_ids(n_speakers, rng), sizes):
        own = rng.integers(0, n_classes, 2)
        choice = own[rng.integers(0, 2, k)] if rng.random() < mixed else np.full(k, own[0])
        groups += [speaker] * int(k)
        labels += choice.tolist()
    order = rng.permutation(len(groups))
    table = pd.DataFrame({"group": np.array(groups)[order], "label": np.array(labels)[order]},
                         index=rng.permutation(10 * len(groups))[: len(groups)])
    if text_labels:
        table["label"] = table["label"].map(lambda i: f"class{i}")
    return table


def raw_table(seed: int, n_speakers: int = 300) -> pd.DataFrame:
    """`read_common_voice`'s columns (path, client_id, age, gender, split ""), raw labels per
    speaker, who change them at a tenth of their clips (the change holds for the clips after)."""
    rng = np.random.default_rng(seed)
    sizes = clips_per_speaker(n_speakers, rng)
    speaker = np.repeat(np.arange(n_speakers), sizes)
    first = np.r_[True, speaker[1:] != speaker[:-1]]
    change = first | (rng.random(len(speaker)) < 0.1)
    since = np.maximum.accumulate(np.where(change, np.arange(len(speaker)), 0))  # the row whose draw holds
    age = rng.choice(np.array(AGES), len(speaker), p=AGE_WEIGHTS)[since]
    gender = rng.choice(np.array(GENDERS), len(speaker), p=GENDER_WEIGHTS)[since]
    order = rng.permutation(len(speaker))
    table = pd.DataFrame({"client_id": np.array(speaker_ids(n_speakers, rng))[speaker],
                          "age": age, "gender": gender}).iloc[order].reset_index(drop=True)
    table.insert(0, "path", [f"/cv/clips/common_voice_xx_{i}.mp3" for i in range(len(table))])
    table["split"] = ""
    return table


def fingerprint(value: object) -> str:
    """sha256 of a Series, a DataFrame (values, index, names and dtypes) or a JSON-able value
    (its JSON in key order, so a numpy scalar where a Python one was fails)."""
    if isinstance(value, pd.Series):
        value = value.to_frame(name=str(value.name))
    if isinstance(value, pd.DataFrame):
        text = f"{list(value.columns)}\n{value.dtypes.astype(str).tolist()} {value.index.dtype}\n{value.to_csv()}"
    else:
        text = json.dumps(value)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
