"""Several classification tasks on one network: each task owns a slice of the logits.

A joint model (age and gender) is any network built with `num_classes` = the sum of the tasks'
class counts; the logits are split into one slice per task, each with its own softmax, its own
class-weighted cross-entropy over the rows that carry its label (a missing label is -1), and its
own metrics named `stage/<task>/...`. A plain classifier is one unnamed task: targets (B,), metric
names `stage/...`, and one class-weighted cross-entropy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from voxray.models.losses import class_weights

MISSING = -1  # the label of a task a clip has no label for


@dataclass(frozen=True)
class Task:
    """One task: its name (None for a plain classifier), class names and logit columns."""

    name: str | None
    classes: list[str]
    start: int

    @property
    def columns(self) -> slice:
        return slice(self.start, self.start + len(self.classes))

    def prefix(self, stage: str) -> str:
        """Metric prefix: `val` for a plain classifier, `val/age` for a task of a joint model."""
        return stage if self.name is None else f"{stage}/{self.name}"


class Tasks:
    """The tasks of a classifier, from its class names.

    Args:
        class_names: a list of class names (one task, targets (B,)) or a mapping task -> class
            names (a joint model, targets (B, n_tasks) with -1 where a label is missing).
    """

    def __init__(self, class_names: Sequence[str] | Mapping[str, Sequence[str]]) -> None:
        named = dict(class_names) if isinstance(class_names, Mapping) else {None: class_names}
        self.joint = isinstance(class_names, Mapping)
        self.tasks: list[Task] = []
        start = 0
        for name, classes in named.items():
            if len(classes) < 2:
                raise ValueError(f"need at least 2 classes per task, got {list(classes)} for {name or 'the task'}")
            self.tasks.append(Task(name, list(classes), start))
            start += len(classes)
        if not self.tasks:
            raise ValueError("class_names names no task")
        self.num_classes = start

    def __iter__(self):
        return iter(self.tasks)

    def targets(self, y: torch.Tensor, task: Task) -> torch.Tensor:
        """The task's labels, (B,), from targets (B,) or (B, n_tasks)."""
        return y[:, self.tasks.index(task)] if self.joint else y

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) -> probabilities (B, num_classes), a softmax within each task's slice."""
        return torch.cat([logits[:, t.columns].float().softmax(dim=1) for t in self.tasks], dim=1)

    def weights(self, counts: Sequence[int] | Mapping[str, Sequence[int]], weighting: str,
                manual: Sequence[float] | Mapping[str, Sequence[float]] | None) -> torch.Tensor:
        """Class weights (num_classes,) from training counts (per task for a joint model), see `class_weights`."""
        if not self.joint:
            return class_weights(counts, weighting, manual)
        return torch.cat([class_weights(counts[t.name], weighting, manual[t.name] if manual else None)
                          for t in self.tasks])

    def loss(self, logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, smoothing: float) -> torch.Tensor:
        """The training loss: the class-weighted mean cross-entropy, summed over the tasks, each over
        the rows that carry its label (a task no row of the batch carries adds 0)."""
        if not self.joint:
            return F.cross_entropy(logits.float(), y, weight=weights, label_smoothing=smoothing)
        losses, row_weights = self.losses(logits, y, weights, smoothing)  # (B, T), (B, T)
        return (losses.sum(dim=0) / row_weights.sum(dim=0).clamp(min=1e-12)).sum()

    def losses(self, logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor,
               smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-row weighted losses and their weights, (B,) each, or (B, n_tasks) for a joint model
        (0 and 0 where a label is missing); `sum(losses) / sum(weights)` is the mean loss."""
        if not self.joint:
            return F.cross_entropy(logits.float(), y, weight=weights, label_smoothing=smoothing,
                                   reduction="none"), weights[y]
        losses, row_weights = [], []
        for i, task in enumerate(self.tasks):
            target, w = y[:, i], weights[task.columns]
            losses.append(F.cross_entropy(logits[:, task.columns].float(), target, weight=w, ignore_index=MISSING,
                                          label_smoothing=smoothing, reduction="none"))
            row_weights.append(torch.where(target == MISSING, 0.0, w[target.clamp(min=0)]))
        return torch.stack(losses, dim=1), torch.stack(row_weights, dim=1)
