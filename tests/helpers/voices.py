"""Voiced test clips (a buzzy harmonic tone) and tiny Common Voice folders made of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf


def tone(f0: float, seconds: float = 2.0, sr: int = 16000, lead: float = 0.4) -> np.ndarray:
    """A buzzy harmonic tone with silence before and after, like a voiced clip."""
    t = np.arange(int(sr * (seconds + 2 * lead))) / sr
    on = (t > lead) & (t < lead + seconds)
    x = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6)) * on * 0.2
    return (x + 0.003 * np.random.default_rng(int(f0)).standard_normal(len(t))).astype(np.float32)


def write_official(root: Path, rows: list[dict], splits: dict[str, list[int]] | None = None) -> Path:
    """Write an official-layout folder: clips as MP3 + validated.tsv (or train/dev/test.tsv).

    rows: dicts with client_id, age, gender, f0; clip names are generated.
    """
    (root / "clips").mkdir(parents=True, exist_ok=True)
    records = []
    for i, r in enumerate(rows):
        name = f"common_voice_en_{i:05d}.mp3"
        sf.write(root / "clips" / name, tone(r.get("f0", 150.0)), 16000, format="MP3")
        records.append({"client_id": r["client_id"], "path": name, "sentence": "a 'quoted\" text",
                        "up_votes": 2, "down_votes": 0, "age": r["age"], "gender": r["gender"], "accents": ""})
    df = pd.DataFrame(records)
    if splits is None:
        df.to_csv(root / "validated.tsv", sep="\t", index=False)
    else:
        for name, idx in splits.items():
            df.iloc[idx].to_csv(root / f"{name}.tsv", sep="\t", index=False)
    return root


def make_official_corpus(root: Path) -> Path:
    """12 speakers x 3 clips, both genders, four age groups, plus unusable labels."""
    rows = []
    for s in range(12):
        gender = "male_masculine" if s % 2 else "female_feminine"
        age = ["twenties", "thirties", "seventies", "teens"][s % 4]
        rows += [{"client_id": f"spk{s:02d}", "age": age, "gender": gender, "f0": 110 + 10 * s}] * 3
    rows += [{"client_id": "other1", "age": "twenties", "gender": "do_not_wish_to_say"}]
    rows += [{"client_id": "blank1", "age": "", "gender": ""}]
    return write_official(root, rows)


def make_joint_corpus(root: Path) -> Path:
    """For joint age + gender runs: 16 speakers x 2 clips with both labels, 6 speakers x 2 clips with
    a gender and a blank age, one clip with an age and an unusable gender, one with neither."""
    rows = []
    for s in range(16):
        gender = "male_masculine" if s % 2 else "female_feminine"
        age = ["twenties", "thirties", "fifties", "teens"][s % 4]
        rows += [{"client_id": f"both{s:02d}", "age": age, "gender": gender, "f0": 100 + 8 * s}] * 2
    for s in range(6):
        rows += [{"client_id": f"noage{s}", "age": "", "gender": ["female", "male"][s % 2], "f0": 120 + 9 * s}] * 2
    rows += [{"client_id": "nogender", "age": "sixties", "gender": "do_not_wish_to_say"}]
    rows += [{"client_id": "none", "age": "", "gender": ""}]
    return write_official(root, rows)
