"""Real-speech check: the gender of real, unseen speakers, CNN against the hand-crafted baseline.

Builds a Common Voice-layout corpus from credited voices in Debian packages
(`experiments/real_speech/sources.py`), splits it into K speaker-disjoint folds (every speaker is tested
once), runs the project's own `train.py` and `baseline.py` on each fold, and pools the test
predictions of all folds: UAR over clips and over speakers, with 95% intervals that resample speakers.

    uv run python -m experiments.real_speech --only-build  # fetch, build corpus and folds, list the speakers
    uv run python -m experiments.real_speech               # 4 folds x (CNN + baseline), ~10 min a run on 2 cores
    uv run python -m experiments.real_speech --reuse --variant cnn= --variant noaug="OVERRIDE1 OVERRIDE2"
    uv run python -m experiments.real_speech --reuse --variant cnn= --train-seeds 42 1 2  # same folds, 3 training seeds
    uv run python -m experiments.real_speech --reuse --fuse  # also each CNN run fused with the baseline

A fold's dev split is two speakers, one per gender: too few to choose a checkpoint or stop early by
(its UAR moves in steps of a quarter). The runs in experiments/real_speech/results.md therefore train a fixed schedule
and test the last epoch: each variant adds `data.batch_size=16 trainer.max_epochs=15
callbacks.early_stopping=null callbacks.model_checkpoint.monitor=null` (about 270 steps on 16
training speakers of 20 clips).

Prints a table and appends it, with the speakers, date, machine, command and versions, to
experiments/real_speech/results.md.
Each CNN's UAR minus the baseline's comes with a paired interval (the same speakers drawn for both):
on a few dozen speakers the two models' own intervals overlap even where one is clearly better.
Gender and recording set go together (the 8 kHz telephone prompts are mostly women, the KLettres
letters mostly men): read a good score with the speaker table beside it.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from bench.record import append_results
from experiments.real_speech.corpus import build
from experiments.real_speech.runs import ROOT, commands, run, run_name, variant
from experiments.real_speech.scores import fused, pooled, results_table, seeds_table, speaker_table, versus
from experiments.real_speech.sources import SPEAKERS, fetch_debs

WORK = ROOT / ".cache" / "real_speech"  # downloads, corpus and runs
RESULTS = Path(__file__).with_name("results.md")


def main() -> None:
    trainers = sorted(p.stem for p in (ROOT / "conf" / "trainer").glob("*.yaml"))
    parser = argparse.ArgumentParser(prog="python -m experiments.real_speech", description=__doc__.splitlines()[0])
    parser.add_argument("--variant", type=variant, action="append", metavar='NAME="OVERRIDES"',
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
