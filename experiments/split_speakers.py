"""Speakers per class in the validation and test splits of the voice experiments, seed by seed.

    uv run python -m experiments.split_speakers [--seeds 1 2 3 4 5] [--experiments voice_mel voice_gender] \
        [override ...]

Reads the data as `python train.py experiment=<name> seed=<seed> <override ...>` would (the embedded
corpus unless `data.root=` is given; the first build takes minutes; VOXRAY_CACHE picks the cache),
splits it, and prints for validation and test the fewest speakers of any class (and which class),
and the range of the classes' clip shares in that split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from voxray.data.summary import groups_report

CONF = Path(__file__).resolve().parents[1] / "conf"


def split_table(experiment: str, seed: int, overrides: list[str]) -> tuple[pd.DataFrame, list[str] | None]:
    """The planned table (label_name or label_name/<task>, group, split) of one experiment and seed,
    and the tasks of a joint model (None for one target)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}", f"seed={seed}", "data.report_dir=null",
                                          *overrides])
    data = instantiate(cfg.data)
    return data.plan().table, data.tasks


def clip_shares(table: pd.DataFrame, tasks: list[str] | None, split: str) -> pd.Series:
    """Each class's share of its clips in `split` (a joint model's classes as `<task>/<class>`)."""
    shares = []
    for task in tasks or [None]:
        rows = table if task is None else table[table[f"label/{task}"] >= 0]
        share = rows.groupby("label_name" if task is None else f"label_name/{task}")["split"].apply(
            lambda s: (s == split).mean())
        shares.append(share if task is None else share.rename(lambda c, task=task: f"{task}/{c}"))
    return pd.concat(shares)


def summary(table: pd.DataFrame, tasks: list[str] | None, split: str) -> str:
    """`fewest speakers (class) | clip shares min-max` of one split."""
    speakers = groups_report(table, tasks, "speaker")["speakers_per_class"][split]
    fewest = min(speakers, key=lambda c: (speakers[c], c))
    clips = clip_shares(table, tasks, split)
    return f"{speakers[fewest]:3d} ({fewest}) | {clips.min():.3f}-{clips.max():.3f}"


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m experiments.split_speakers", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--experiments", nargs="+", default=["voice_mel", "voice_gender"])
    p.add_argument("overrides", nargs="*", help="Hydra overrides, as for train.py")
    args = p.parse_args()
    print("| experiment | seed | val: fewest speakers (class) | clip shares "
          "| test: fewest speakers (class) | clip shares |")
    print("| --- | --- | --- | --- | --- | --- |")
    for experiment in args.experiments:
        for seed in args.seeds:
            table, tasks = split_table(experiment, seed, args.overrides)
            cells = " | ".join(summary(table, tasks, s) for s in ("val", "test"))
            print(f"| {experiment} | {seed} | {cells} |")


if __name__ == "__main__":
    main()
