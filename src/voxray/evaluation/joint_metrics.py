"""The headline of a joint model, the mean of its tasks' UARs, with its own 95% interval.

Each task's report has an interval; their mean (what a joint model's checkpoints, early stopping and
sweeps follow) needs one too, and the two tasks' intervals do not give it: they are drawn apart,
while the same people answer both questions. Every draw here resamples speakers once for all tasks,
stratified by the combination of their labels (the project's stratification by class, for several
labels at once), and averages the tasks' UARs on it, at clip and at speaker level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike

from voxray.evaluation.bootstrap import Stat, bootstrap_report, groups_per_class
from voxray.evaluation.metrics import decision_uar
from voxray.evaluation.speakers import speaker_scores


def _mean_uar(preds: torch.Tensor, targets: torch.Tensor, n_classes: Sequence[int]) -> Stat:
    """rows -> {"uar": the mean over tasks of each task's UAR on those rows that carry its label}."""
    def stat(rows: np.ndarray) -> dict[str, float | None]:
        idx = torch.from_numpy(rows)
        uars = []
        for t, k in enumerate(n_classes):
            y, p = targets[idx, t], preds[idx, t]
            labelled = y >= 0
            if not labelled.any():
                return {"uar": None}
            y, p = y[labelled], p[labelled]
            uars.append(decision_uar(p, y, k))
        return {"uar": float(torch.stack(uars).mean())}
    return stat


def _counts(targets: torch.Tensor, groups: ArrayLike | None, names: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """{"<task>/<class>": groups holding rows of it} over each task's labelled rows."""
    counts = {}
    for t, (task, classes) in enumerate(names.items()):
        rows = (targets[:, t] >= 0).numpy()
        per_class = groups_per_class(targets[rows, t].numpy(), None if groups is None else groups[rows], classes)
        counts |= {f"{task}/{c}": n for c, n in per_class.items()}
    return counts


def _report(preds: torch.Tensor, targets: torch.Tensor, names: Mapping[str, Sequence[str]], groups: ArrayLike | None,
            n_boot: int, seed: int) -> dict:
    strata = np.unique(targets.numpy(), axis=0, return_inverse=True)[1].reshape(-1)  # (N,) label combination
    stat = _mean_uar(preds, targets, [len(c) for c in names.values()])
    counts = _counts(targets, groups, names)  # the mean needs every class of every task
    report = bootstrap_report(stat(np.arange(len(targets))), stat, strata, groups, n_boot, seed, counts)
    report["ci"] = report["ci"].replace("stratified by class", "stratified by the tasks' labels together")
    return report


@torch.inference_mode()
def mean_uar_reports(
    probs: Sequence[torch.Tensor], targets: torch.Tensor, groups: ArrayLike | None, n_boot: int = 1000, seed: int = 0,
    class_names: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict, dict | None]:
    """The mean over tasks of each task's UAR (argmax decisions), per clip and per speaker, with 95% intervals.

    Args:
        probs: one (N, k_t) tensor of class probabilities per task.
        targets: (N, n_tasks) class indices, negative where a clip has no label for the task.
        groups: (N,) speaker of each clip, or None (each clip its own speaker; no speaker level).
        n_boot: bootstrap draws (1000).
        seed: seed of the draws (0).
        class_names: {task: class names}, in the order of `probs` (None: tasks and classes numbered).

    Returns `bootstrap_report`'s {"uar", "uar_ci95", "n_groups", "ci", "groups_per_class"} over clips
    (counts named "<task>/<class>"; the interval is None where a class of a task has one speaker, and
    "ci_undefined" says which), and over speakers (a speaker's decision for a task from their clips
    labelled for it, as in `speaker_scores`) with "n_speakers" in place of "n_groups", or None
    without groups.
    """
    targets = targets.long().cpu()
    if targets.ndim != 2 or targets.shape[1] != len(probs) or any(len(p) != len(targets) for p in probs):
        raise ValueError(f"one (N, k) probability tensor per target column: {[tuple(p.shape) for p in probs]}, "
                         f"targets {tuple(targets.shape)}")
    names = dict(class_names) if class_names is not None else {
        f"task{t}": [str(c) for c in range(p.shape[1])] for t, p in enumerate(probs)}
    if [len(c) for c in names.values()] != [p.shape[1] for p in probs]:
        raise ValueError(f"class_names {names} do not match the probabilities' columns {[p.shape[1] for p in probs]}")
    preds = torch.stack([p.argmax(dim=1).cpu() for p in probs], dim=1)  # (N, n_tasks)
    clips = _report(preds, targets, names, groups, n_boot, seed)
    if groups is None:
        return clips, None
    groups = np.asarray(groups)
    speakers = np.unique(groups)
    people_preds = torch.full((len(speakers), len(probs)), -1, dtype=torch.long)  # (S, n_tasks)
    people_targets = people_preds.clone()
    for t, p in enumerate(probs):
        rows = (targets[:, t] >= 0).numpy()
        p_t, y_t, ids = speaker_scores(p[rows].float().cpu().numpy(), targets[rows, t].numpy(), groups[rows])
        at = np.searchsorted(speakers, ids)
        people_preds[at, t], people_targets[at, t] = torch.from_numpy(p_t.argmax(axis=1)), torch.from_numpy(y_t)
    people = _report(people_preds, people_targets, names, None, n_boot, seed)  # each speaker is one row
    people["n_speakers"] = people.pop("n_groups")
    people["ci"] = people["ci"].replace("rows (no groups given)", "speakers")
    return clips, people
