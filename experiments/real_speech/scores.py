"""The real-speech check's scores: the folds' test predictions pooled, compared and fused, and the
markdown tables of `python -m experiments.real_speech`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from voxray.evaluation.compare import uar_difference
from voxray.evaluation.metrics import multiclass_report
from voxray.evaluation.speakers import speaker_report, speaker_scores


def _predictions(csvs: Sequence[Path]) -> tuple[pd.DataFrame, list[str]]:
    """All folds' test predictions in one table, and the class names of its prob/<class> columns."""
    tables = [pd.read_csv(p, dtype={"speaker": str}) for p in csvs]
    per_fold = pd.concat([pd.Series(t["speaker"].unique()) for t in tables])
    if per_fold.duplicated().any():
        raise ValueError(f"speakers {sorted(set(per_fold[per_fold.duplicated()]))} are tested in more than one fold")
    table = pd.concat(tables, ignore_index=True)
    classes = [c.removeprefix("prob/") for c in table.columns if c.startswith("prob/")]
    if not table["label"].isin(classes).all():
        raise ValueError(f"labels {sorted(set(table['label']) - set(classes))} have no prob/<class> column")
    return table, classes


def pooled(csvs: Sequence[Path], n_boot: int = 1000) -> dict:
    """Clip and speaker UAR with 95% intervals over speakers, from the test predictions of all folds."""
    table, classes = _predictions(csvs)
    probs = torch.tensor(table[[f"prob/{c}" for c in classes]].to_numpy(), dtype=torch.float32)  # (N, k)
    targets = torch.tensor(table["label"].map({c: i for i, c in enumerate(classes)}).to_numpy())  # (N,)
    groups = table["speaker"].to_numpy()
    clip = multiclass_report(probs, targets, groups, classes, n_boot)
    person = speaker_report(probs, targets, groups, classes, n_boot)
    p, y, ids = speaker_scores(probs.numpy(), targets.numpy(), groups)  # (S, k), (S,), (S,)
    return {"clip_uar": clip["uar"], "clip_ci": clip["uar_ci95"], "speaker_uar": person["uar"],
            "speaker_ci": person["uar_ci95"], "speakers": person["n_speakers"], "clips": len(table),
            "own_class": dict(zip(ids, p[np.arange(len(y)), y]))}


def _aligned(table: pd.DataFrame, classes: list[str], other: pd.DataFrame, other_classes: list[str],
             where: str = "") -> np.ndarray:
    """`other`'s class probabilities (N, k) in `table`'s clip order; clips are matched by path,
    speaker and label, and a clip that only one of the two tested is refused (`where` prefixes the message)."""
    if classes != other_classes:
        raise ValueError(f"{where}classes differ: {classes} vs {other_classes}")
    keys, cols = ["path", "speaker", "label"], [f"prob/{c}" for c in classes]
    aligned = other.set_index(keys)[cols].reindex(pd.MultiIndex.from_frame(table[keys]))
    missing = int(aligned.isna().any(axis=1).sum())
    if missing or len(other) != len(table):
        raise ValueError(f"{where}{2 * missing + len(other) - len(table)} clips are tested by only one of the two")
    return aligned.to_numpy()


def versus(csvs: Sequence[Path], reference: Sequence[Path], n_boot: int = 1000) -> dict:
    """`uar_difference` of a model's pooled test predictions minus the reference's, clip by clip."""
    (a, classes), (b, ref_classes) = _predictions(csvs), _predictions(reference)
    return uar_difference(a[[f"prob/{c}" for c in classes]].to_numpy(), _aligned(a, classes, b, ref_classes),
                          a["label"].map({c: i for i, c in enumerate(classes)}).to_numpy(),
                          a["speaker"].to_numpy(), n_boot)


def fused(models: Sequence[Sequence[Path]], out: Path) -> list[Path]:
    """Late fusion of several models' test predictions, fold by fold: each clip's class
    probabilities are the normalised geometric mean of the models' (their mean log-probability).

    Args:
        models: per model, each fold's test_predictions.csv, the folds in the same order.
        out: folder for the fused folds' tables (fold1.csv, ...).

    Returns:
        The fused tables, with the columns of the first model's tables; `pred` is the fused argmax.
    """
    out.mkdir(parents=True, exist_ok=True)
    eps = np.finfo(np.float32).tiny  # a probability of exactly 0 would veto its class outright
    paths = []
    for k, folds in enumerate(zip(*models, strict=True), start=1):
        (first, classes), *rest = [_predictions([csv]) for csv in folds]
        cols = [f"prob/{c}" for c in classes]
        log_p = np.log(first[cols].to_numpy().clip(eps))  # (N, k), summed over the models
        for table, other_classes in rest:
            log_p = log_p + np.log(_aligned(first, classes, table, other_classes, f"fold {k}: ").clip(eps))
        log_p = log_p / len(folds)
        p = np.exp(log_p - log_p.max(axis=1, keepdims=True))
        table = first.copy()
        table[cols] = p / p.sum(axis=1, keepdims=True)
        if "pred" in table:
            table["pred"] = np.asarray(classes)[p.argmax(axis=1)]
        paths.append(out / f"fold{k}.csv")
        table.to_csv(paths[-1], index=False)
    return paths


def interval(ci: Sequence[float] | None, fmt: str = ".3f") -> str:
    """`[lo, hi]`, or `[undefined]` where the interval is (a class of one speaker: metrics.json's null)."""
    return "[undefined]" if ci is None else f"[{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def results_table(scores: Mapping[str, dict]) -> str:
    """Markdown: variant | clip UAR [95% CI] | speaker UAR [95% CI] | each minus the baseline's,
    with paired intervals (where the variant has "vs_baseline") | speakers | clips."""
    def gap(s: dict, level: str) -> str:
        if "vs_baseline" not in s:
            return "–"
        d = s["vs_baseline"]
        return f"{d[level]:+.3f} {interval(d[f'{level}_ci95'], '+.3f')}"

    lines = ["| variant | clip UAR [95% CI] | speaker UAR [95% CI] | clips − baseline [95% CI] | "
             "speakers − baseline [95% CI] | speakers | clips |", "| --- " * 7 + "|"]
    for name, s in scores.items():
        lines.append(f"| {name} | {s['clip_uar']:.3f} {interval(s['clip_ci'])} | {s['speaker_uar']:.3f} "
                     f"{interval(s['speaker_ci'])} | {gap(s, 'clip')} | {gap(s, 'speaker')} | "
                     f"{s['speakers']} | {s['clips']} |")
    return "\n".join(lines)


def speaker_table(people: pd.DataFrame, scores: Mapping[str, dict] | None = None) -> str:
    """Markdown: one line per speaker with the credit that gives their gender and, per variant, the
    speaker-level probability of their own gender (below 0.5: decided wrong)."""
    scores = scores or {}
    lines = ["| speaker | gender | language | rate (Hz) | clips | median f0 (Hz) | test fold | "
             + "".join(f"{name} p(own) | " for name in scores) + "credit (source) |",
             "| --- " * (8 + len(scores)) + "|"]
    lines += [f"| {p.speaker} | {p.gender} | {p.language} | {p.rate} | {p.clips} | {p.f0:.0f} | {p.fold} | "
              + "".join(f"{s['own_class'].get(p.speaker, float('nan')):.2f} | " for s in scores.values())
              + f"{p.credit} ({p.package}: {p.source}) |" for p in people.itertuples()]
    n = people["gender"].value_counts()
    return "\n".join(lines) + f"\n\n{n.get('female', 0)} women, {n.get('male', 0)} men, {people['clips'].sum()} clips."


def seeds_table(scores: Mapping[str, dict], names: Mapping[str, Sequence[str]]) -> str:
    """Markdown: per variant, the mean over its training seeds of each UAR and of each gap to the
    baseline, the range over seeds, and the people decided right in each seed's run.

    Args:
        scores: `pooled` of every run, with "vs_baseline" (`versus`) for all but "baseline".
        names: each variant's run names, one per training seed.
    """
    def mean_range(values: list[float]) -> str:
        return f"{np.mean(values):.3f} ({min(values):.3f}–{max(values):.3f})"

    lines = ["| variant | seeds | clip UAR, mean (range) | speaker UAR, mean (range) | clips − baseline, mean | "
             "speakers − baseline, mean | people right per seed |", "| --- " * 7 + "|"]
    for variant, run_names in names.items():
        runs = [scores[n] for n in run_names]
        right = [sum(p >= 0.5 for p in r["own_class"].values()) for r in runs]
        lines.append(f"| {variant} | {len(runs)} | {mean_range([r['clip_uar'] for r in runs])} | "
                     f"{mean_range([r['speaker_uar'] for r in runs])} | "
                     f"{np.mean([r['vs_baseline']['clip'] for r in runs]):+.3f} | "
                     f"{np.mean([r['vs_baseline']['speaker'] for r in runs]):+.3f} | "
                     f"{', '.join(map(str, right))} of {runs[0]['speakers']} |")
    base = scores["baseline"]
    lines.append(f"| baseline | – | {base['clip_uar']:.3f} | {base['speaker_uar']:.3f} | – | – | "
                 f"{sum(p >= 0.5 for p in base['own_class'].values())} of {base['speakers']} |")
    return "\n".join(lines)
