"""The real-speech corpus: credited voices out of their Debian packages into a Common Voice-layout
folder, and K speaker-disjoint folds of it (each a folder train.py and baseline.py read as data.root)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import soundfile as sf
from sklearn.model_selection import StratifiedGroupKFold

from experiments.real_speech.sources import Speaker, extract
from voxray.data.voice.audio import CleanParams, clean, decode
from voxray.synth.voice import COLUMNS

LABELS = {"female": "female_feminine", "male": "male_masculine"}  # Common Voice's labels since release 17


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples and their rate; `.gsm` is Asterisk's headerless GSM 6.10 at 8 kHz."""
    if path.suffix == ".gsm":
        return sf.read(path, dtype="float32", format="RAW", subtype="GSM610", samplerate=8000, channels=1)
    audio, rate = sf.read(path, dtype="float32", always_2d=True)  # (T, C)
    return audio.mean(axis=1), rate


def spread(items: Sequence, n: int) -> list:
    """`n` items evenly spaced over `items` (all of them when there are at most n)."""
    if len(items) <= n:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, n).round().astype(int)]


def median_f0(clips: Sequence[Path]) -> float:
    """Median f0 (Hz, pYIN) of `clips` as the project prepares them; a check on the credits, never a label.

    Only voiced frames within 20 dB of a clip's loudest count, and none pinned near pYIN's 60 Hz
    floor: there pYIN follows mains hum (50 Hz and its harmonics run through several KLettres
    recordings), not the voice. Octave errors remain: read the figure as rough.
    """
    params, f0s = CleanParams(), []
    for clip in clips:
        audio = clean(decode(str(clip), params.sample_rate), params)
        f0, voiced, _ = librosa.pyin(audio, fmin=60, fmax=500, sr=params.sample_rate, frame_length=1024, hop_length=256)
        rms = librosa.feature.rms(y=audio, frame_length=1024, hop_length=256)[0, : len(f0)]
        f0s.append(f0[voiced & (rms > rms.max() / 10) & (f0 > 66)])
    loud = np.concatenate(f0s) if f0s else np.array([])
    return float(np.median(loud)) if len(loud) else float("nan")


def build_corpus(speakers: Sequence[Speaker], debs: Mapping[str, Path], root: Path, clips_per_speaker: int,
                 min_speech: float, f0_clips: int = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write `root/clips/` and `root/validated.tsv`; returns the clip table and the speaker table.

    Args:
        speakers: the catalogue.
        debs: the .deb of each package the speakers name.
        root: corpus folder (its clips/ is replaced).
        clips_per_speaker: at most this many clips each, evenly spread over the sorted file list.
        min_speech: files with less speech than this (seconds, after trimming silence) are left out.
        f0_clips: clips per speaker whose median f0 is reported (6; 0 skips the check).
    """
    shutil.rmtree(root / "clips", ignore_errors=True)
    (root / "clips").mkdir(parents=True)
    rows, people = [], []
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        for package in sorted({s.package for s in speakers}):
            voices, folder = [s for s in speakers if s.package == package], Path(tmp) / package
            paths = extract(debs[package], lambda p: any(s.wants(p) for s in voices), folder)  # noqa: B023 - called here
            for speaker in voices:
                mine = [p for p in paths if speaker.wants(p)]
                speech = [p for p in mine if _speech_seconds(folder / p) >= min_speech]
                if not speech:
                    raise ValueError(f"speaker {speaker.id}: none of the {len(mine)} files matching "
                                     f"{speaker.include} in {package} holds {min_speech} s of speech")
                chosen = spread(speech, clips_per_speaker)
                names = [_write_clip(folder / p, root / "clips", f"{speaker.id}_{i:03d}") for i, p in enumerate(chosen)]
                rates = sorted({sf.info(root / "clips" / n).samplerate for n in names})
                rows += [{"client_id": speaker.id, "path": n, "gender": LABELS[speaker.gender],
                          "locale": speaker.language, "source": f"{package}:{p}"} for n, p in zip(names, chosen)]
                people.append({"speaker": speaker.id, "gender": speaker.gender, "language": speaker.language,
                               "package": package, "rate": "/".join(map(str, rates)), "clips": len(chosen),
                               "files": len(mine), "too_short": len(mine) - len(speech),
                               "f0": median_f0([root / "clips" / n for n in spread(names, f0_clips)]),
                               "credit": speaker.credit, "source": speaker.source})
    clips = pd.DataFrame(rows)
    _write_tsv(clips, root / "validated.tsv")
    clips.to_csv(root / "clip_sources.tsv", sep="\t", index=False, columns=["path", "client_id", "source"])
    return clips, pd.DataFrame(people)


def _speech_seconds(path: Path) -> float:
    """Seconds left after the project's silence trimming (its denoising, too slow here, comes first there)."""
    audio, rate = read_audio(path)
    return len(librosa.effects.trim(audio, top_db=CleanParams().trim_top_db)[0]) / rate


def _write_clip(source: Path, folder: Path, stem: str) -> str:
    """Copy one recording as `<stem>_<original name>` (GSM rewritten as 16-bit WAV); its file name."""
    name = f"{stem}_{re.sub(r'[^A-Za-z0-9-]+', '-', source.stem)[:40]}"
    if source.suffix == ".gsm":  # libsndfile, hence the project's loader, cannot open headerless GSM
        audio, rate = read_audio(source)
        sf.write(folder / f"{name}.wav", audio, rate, subtype="PCM_16")
        return f"{name}.wav"
    shutil.copyfile(source, folder / f"{name}{source.suffix}")
    return f"{name}{source.suffix}"


def _write_tsv(clips: pd.DataFrame, path: Path) -> None:
    """Clips as a Common Voice table: every release column, age blank."""
    table = pd.DataFrame({c: clips[c] if c in ("client_id", "path", "gender", "locale") else "" for c in COLUMNS})
    table["up_votes"], table["down_votes"] = 2, 0
    table.to_csv(path, sep="\t", index=False)


def speaker_folds(clips: pd.DataFrame, k: int, seed: int) -> list[dict[str, list[str]]]:
    """K speaker-disjoint folds, stratified by gender: {"train", "dev", "test"} speaker ids of each.

    Every speaker is in exactly one test fold; dev holds one speaker per gender drawn from the
    training speakers (checkpoint selection), so train, dev and test never share a person.
    """
    folds = []
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for i, (rest, test) in enumerate(splitter.split(clips, clips["gender"], clips["client_id"])):
        rng = np.random.default_rng([seed, i])
        train = clips.iloc[rest].groupby("gender")["client_id"].unique()
        if (train.map(len) < 2).any() or len(train) < 2:
            raise ValueError(f"fold {i + 1} keeps fewer than 2 training speakers of a gender, one of whom "
                             f"would go to dev: use fewer than --folds {k}")
        dev = [str(rng.choice(sorted(ids))) for ids in train]
        folds.append({"train": sorted(set(clips.iloc[rest]["client_id"]) - set(dev)), "dev": sorted(dev),
                      "test": sorted(set(clips.iloc[test]["client_id"]))})
    return folds


def write_folds(root: Path, clips: pd.DataFrame, folds: Sequence[dict[str, list[str]]]) -> list[Path]:
    """`root/fold<k>/` with train/dev/test.tsv, validated.tsv and clips/ (hard links to root/clips)."""
    dirs = []
    for k, fold in enumerate(folds, start=1):
        folder = root / f"fold{k}"
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "clips").mkdir(parents=True)
        for name in clips["path"]:
            try:  # a link, not a symlink: the project may refuse a clip that resolves outside its root
                os.link(root / "clips" / name, folder / "clips" / name)
            except OSError:
                shutil.copyfile(root / "clips" / name, folder / "clips" / name)
        for split, ids in fold.items():
            _write_tsv(clips[clips["client_id"].isin(ids)], folder / f"{split}.tsv")
        _write_tsv(clips, folder / "validated.tsv")
        dirs.append(folder)
    return dirs


def build(speakers: Sequence[Speaker], debs: Mapping[str, Path], root: Path, k: int, seed: int,
          clips_per_speaker: int = 40, min_speech: float = 0.5, f0_clips: int = 6) -> tuple[pd.DataFrame, list[Path]]:
    """Corpus and folds in `root`, rebuilt only when the catalogue or a setting changed; the speaker
    table and the fold folders (arguments as for `build_corpus`, plus k folds and their seed)."""
    settings = json.dumps({"speakers": [asdict(s) for s in speakers], "folds": k, "seed": seed, "f0_clips": f0_clips,
                           "clips_per_speaker": clips_per_speaker, "min_speech": min_speech}, sort_keys=True)
    done = root / "build.json"
    if done.exists() and done.read_text() == settings:
        return pd.read_csv(root / "speakers.tsv", sep="\t"), [root / f"fold{i}" for i in range(1, k + 1)]
    done.unlink(missing_ok=True)
    clips, people = build_corpus(speakers, debs, root, clips_per_speaker, min_speech, f0_clips)
    folds = speaker_folds(clips, k, seed)
    people["fold"] = people["speaker"].map({s: i for i, f in enumerate(folds, start=1) for s in f["test"]})
    people.to_csv(root / "speakers.tsv", sep="\t", index=False)
    dirs = write_folds(root, clips, folds)
    done.write_text(settings)
    return people, dirs
