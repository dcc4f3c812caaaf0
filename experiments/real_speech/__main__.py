"""Real-speech check: the gender of real, unseen speakers, CNN against the hand-crafted baseline.

Builds a Common Voice-layout corpus from credited voices in Debian packages
(`experiments/real_speech/sources.py`), splits it into K speaker-disjoint folds (every speaker is tested
once), runs the project's own `train.py` and `baseline.py` on each fold, and pools the test
predictions of all folds: UAR over clips and over speakers, with 95% intervals that resample speakers.

    uv run python -m experiments.real_speech --only-build       # fetch, build corpus and folds, list the speakers
    uv run python -m experiments.real_speech                    # 4 folds x (CNN + baseline), ~10 min a run on 2 cores
    uv run python -m experiments.real_speech --reuse --variant cnn= --variant noaug="OVERRIDE1 OVERRIDE2"
    uv run python -m experiments.real_speech --reuse --variant cnn= --train-seeds 42 1 2   # same folds, three training seeds
    uv run python -m experiments.real_speech --reuse --fuse     # also each CNN run fused with the baseline

A fold's dev split is two speakers, one per gender: too few to choose a checkpoint or stop early by
(its UAR moves in steps of a quarter). The runs in experiments/real_speech/results.md therefore train a fixed schedule
and test the last epoch: each variant adds `data.batch_size=16 trainer.max_epochs=15
callbacks.early_stopping=null callbacks.model_checkpoint.monitor=null` (about 270 steps on 16
training speakers of 20 clips).

Prints a table and appends it, with the speakers, date, machine, command and versions, to experiments/real_speech/results.md.
Each CNN's UAR minus the baseline's comes with a paired interval (the same speakers drawn for both):
on a few dozen speakers the two models' own intervals overlap even where one is clearly better.
Gender and recording set go together (the 8 kHz telephone prompts are mostly women, the KLettres
letters mostly men): read a good score with the speaker table beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import soundfile as sf
from omegaconf import OmegaConf
from sklearn.model_selection import StratifiedGroupKFold

from bench.record import append_results
from experiments.real_speech.scores import fused, pooled, results_table, seeds_table, speaker_table, versus
from experiments.real_speech.sources import SPEAKERS, Speaker, extract, fetch_debs
from voxray.data.voice.audio import CleanParams, clean, decode
from voxray.reporting.predictions import FILE as PREDICTIONS
from voxray.synth.voice import COLUMNS

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).with_name("results.md")
WORK = ROOT / ".cache" / "real_speech"  # downloads, corpus and runs
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
            paths = extract(debs[package], lambda p: any(s.wants(p) for s in voices), folder)
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


def run(cmd: list[str], run_dir: Path, reuse_after: float | None = None) -> Path:
    """Run one project command whose Hydra run folder is `run_dir`; its test_predictions.csv.

    Args:
        cmd: the command, run in the project folder.
        run_dir: its `hydra.run.dir`, replaced unless reused.
        reuse_after: keep a test_predictions.csv written after this time (the corpus build's) by a
            run of the same overrides, None = never.
    """
    csv = run_dir / PREDICTIONS
    if (reuse_after is not None and csv.exists() and csv.stat().st_mtime > reuse_after
            and _overrides(run_dir) == [a for a in cmd[2:] if not a.startswith("hydra.")]):
        print(f"  reusing {csv}")
        return csv
    shutil.rmtree(run_dir, ignore_errors=True)  # a stale last.ckpt would be resumed from
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log, start = run_dir.with_suffix(".log"), time.perf_counter()
    print(f"  {shlex.join(cmd)}", flush=True)
    with log.open("w") as out:
        code = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
    if code or not csv.exists():
        sys.exit(f"{cmd[1]} failed (exit {code}{', no ' + PREDICTIONS if not code else ''}); see {log}")
    print(f"    done in {time.perf_counter() - start:.0f} s")
    return csv


def _overrides(run_dir: Path) -> list[str] | None:
    """The overrides a Hydra run folder was made with (as given, one per item), None if it has none."""
    path = run_dir / ".hydra" / "overrides.yaml"
    return OmegaConf.to_container(OmegaConf.load(path)) if path.exists() else None


def _variant(text: str) -> tuple[str, list[str]]:
    name, sep, overrides = text.partition("=")
    if not sep or not re.fullmatch(r"[\w-]+", name) or name == "baseline":
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME=\"override1 override2\" (NAME: letters, digits, _ "
                                         f"or -; 'baseline' is taken)")
    return name, shlex.split(overrides)


def run_name(variant: str, train_seed: int, seed: int) -> str:
    """`<variant>` for the folds' seed, `<variant>_seed<N>` for another training seed."""
    return variant if train_seed == seed else f"{variant}_seed{train_seed}"


def commands(variants: Sequence[tuple[str, list[str]]], trainer: str, seed: int,
             train_seeds: Sequence[int] = (), baseline: Sequence[str] = ()) -> dict[str, list[str]]:
    """Each CNN variant's train.py command, and the baseline's, before a fold's data.root.

    A variant trains once per seed of `train_seeds` (default: the folds' seed), named `<variant>`
    for the folds' seed and `<variant>_seed<N>` for the others. The seed comes before a variant's
    overrides (Hydra keeps the last value), so that a variant may also set its own `seed=N`.
    `baseline` holds the baseline's own overrides.
    """
    runs = {}
    for name, overrides in variants:
        for s in train_seeds or [seed]:
            runs[run_name(name, s, seed)] = [
                sys.executable, "train.py", "experiment=voice_gender", f"trainer={trainer}", f"seed={s}", *overrides]
    runs["baseline"] = [sys.executable, "baseline.py", "data.target=gender", f"seed={seed}", *baseline]
    return runs


def main() -> None:
    trainers = sorted(p.stem for p in (ROOT / "conf" / "trainer").glob("*.yaml"))
    parser = argparse.ArgumentParser(prog="python -m experiments.real_speech", description=__doc__.splitlines()[0])
    parser.add_argument("--variant", type=_variant, action="append", metavar='NAME="OVERRIDES"',
                        help="a CNN to compare: train.py overrides (repeatable; default: cnn with none)")
    parser.add_argument("--baseline", type=shlex.split, default=[], metavar='"OVERRIDES"',
                        help="baseline.py overrides, e.g. \"baseline.features.drop=[duration_s,onset_count]\"")
    parser.add_argument("--folds", type=int, default=4, help="speaker-disjoint folds; each speaker is tested once")
    parser.add_argument("--seed", type=int, default=42, help="the folds' seed (and the baseline's)")
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[], metavar="N",
                        help="train every variant once per seed (default: --seed) and add a table of means over them")
    parser.add_argument("--clips-per-speaker", type=int, default=40)
    parser.add_argument("--min-speech", type=float, default=0.5, help="seconds of speech a clip needs")
    parser.add_argument("--leave-out", action="append", default=[], choices=[s.id for s in SPEAKERS],
                        metavar="SPEAKER", help="a catalogue speaker to leave out (repeatable)")
    parser.add_argument("--trainer", choices=trainers, default="default",
                        help="the CNN runs' trainer config (conf/trainer/)")
    parser.add_argument("--reuse", action="store_true",
                        help="skip runs whose folder has test_predictions.csv (without it, run folders are replaced)")
    parser.add_argument("--fuse", action="store_true",
                        help="also score fusions (mean log-probability per clip): each CNN run with the baseline, "
                             "and with --train-seeds each variant's ensemble of seeds, alone and with the baseline")
    parser.add_argument("--only-build", action="store_true", help="build corpus and folds, list the speakers, stop")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--debs", type=Path, default=WORK / "debs", help="where the .deb files are kept")
    parser.add_argument("--corpus", type=Path, default=WORK / "corpus")
    parser.add_argument("--out", type=Path, default=WORK / "runs", help="the runs' Hydra folders")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the markdown file the tables are appended to")
    args = parser.parse_args()
    if args.folds < 2 or args.clips_per_speaker < 1:
        parser.error("--folds must be at least 2 and --clips-per-speaker at least 1")
    args.corpus.mkdir(parents=True, exist_ok=True)
    speakers = [s for s in SPEAKERS if s.id not in args.leave_out]
    people, folds = build(speakers, fetch_debs({s.package for s in speakers}, args.debs), args.corpus,
                          args.folds, args.seed, args.clips_per_speaker, args.min_speech)
    if args.only_build:
        print(speaker_table(people))
        return
    print(f"{len(people)} speakers, {people['clips'].sum()} clips, {len(folds)} folds in {args.corpus}")
    variants = args.variant or [("cnn", [])]
    runs = commands(variants, args.trainer, args.seed, args.train_seeds, args.baseline)
    built = (args.corpus / "build.json").stat().st_mtime if args.reuse else None  # older runs saw other folds
    scores, predictions = {}, {}
    for name, cmd in runs.items():
        print(f"{name}:")
        out = [args.out / name / f"fold{k}" for k in range(1, len(folds) + 1)]
        predictions[name] = [run([*cmd, f"data.root={f}", f"hydra.run.dir={o}"], o, built)
                             for f, o in zip(folds, out)]
        scores[name] = pooled(predictions[name], args.n_boot)
    by_seed = {v: [run_name(v, s, args.seed) for s in args.train_seeds or [args.seed]] for v, _ in variants}
    if args.fuse:  # each run with the baseline; with several seeds, their ensemble too, and it with the baseline
        fusions = {f"{name}+baseline": [name, "baseline"] for names in by_seed.values() for name in names}
        if len(args.train_seeds) > 1:
            fusions |= {f"{variant}_x{len(names)}": names for variant, names in by_seed.items()}
            fusions |= {f"{variant}_x{len(names)}+baseline": [*names, "baseline"] for variant, names in by_seed.items()}
        for name, members in fusions.items():
            predictions[name] = fused([predictions[m] for m in members], args.out / name)
            scores[name] = pooled(predictions[name], args.n_boot)
        by_seed |= {f"{variant}+baseline": [f"{name}+baseline" for name in names] for variant, names in by_seed.items()}
    for name in scores.keys() - {"baseline"}:  # paired: the same speakers drawn for both
        scores[name]["vs_baseline"] = versus(predictions[name], predictions["baseline"], args.n_boot)
    summary = (seeds_table(scores, by_seed) + "\n\n") if len(args.train_seeds) > 1 else ""
    tables = (summary + results_table(scores)
              + "\n\nSpeakers (gender from the credits; f0 only as a check; p(own): the "
              "speaker-level probability of their credited gender):\n\n" + speaker_table(people, scores))
    print(tables)
    append_results("Real-speech check", tables, args.results, f"{len(folds)} speaker-disjoint folds, seed {args.seed}")


if __name__ == "__main__":
    main()
