"""What a report reads from a finished run folder: the files train.py and eval.py write there."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import yaml
from omegaconf import OmegaConf

from voxray.reporting.predictions import FILE as PREDICTIONS


@dataclass
class RunFiles:
    """A run folder's metrics.json, test_predictions.csv, data_report.json, epochs.csv and settings.

    `config` is the configuration the tested model was trained with: the one stored in the
    checkpoint (so an eval run shows its model's settings), else the run's `.hydra/config.yaml`,
    else empty. `overrides` are the command-line overrides in `.hydra/overrides.yaml`.
    """

    folder: Path
    metrics: dict
    predictions: pd.DataFrame
    data: dict
    epochs: pd.DataFrame | None
    config: dict
    overrides: list[str]

    @property
    def stage(self) -> str:
        return self.metrics["stage"]

    @property
    def checkpoint(self) -> str:
        """The tested checkpoint's file name and epoch (`best.ckpt (epoch 7)`), or "no checkpoint"."""
        name = Path(self.metrics["checkpoint"]).name or "no checkpoint"
        return name if self.metrics.get("epoch") is None else f"{name} (epoch {self.metrics['epoch']})"

    @property
    def tested_epoch(self) -> int | None:
        """The epoch the tested checkpoint was saved at: metrics.json's, else its `epoch_NNN` name."""
        if self.metrics.get("epoch") is not None:
            return int(self.metrics["epoch"])
        found = re.search(r"epoch_(\d+)", Path(self.metrics["checkpoint"]).name)
        return int(found.group(1)) if found else None

    @property
    def group_name(self) -> str:
        """What the bootstrap resamples: test_predictions.csv's group column ("speaker", "patient")."""
        return next((c for c in ("speaker", "patient") if c in self.predictions.columns), "group")

    @property
    def tasks(self) -> list[TaskView]:
        """One view per task: a joint run's `class_names` map task -> classes, a single task's is a list."""
        names = self.metrics["class_names"]
        if isinstance(names, dict):
            return [TaskView(self, task, list(classes)) for task, classes in names.items()]
        return [TaskView(self, None, list(names))]


@dataclass(frozen=True)
class TaskView:
    """One task of a run as the figures and tables read it: its classes, its metrics.json key prefix
    (`test`, or `test/age` in a joint run) and its test_predictions.csv columns (`label`, `prob/<class>`,
    or `label/age`, `prob/age/<class>`)."""

    run: RunFiles
    name: str | None  # None: a single-task run
    class_names: list[str]

    @property
    def prefix(self) -> str:
        return self.run.stage if self.name is None else f"{self.run.stage}/{self.name}"

    @property
    def tag(self) -> str:
        """The prefix in file names: `test`, `test_age`."""
        return self.prefix.replace("/", "_")

    @property
    def metrics(self) -> dict:
        return self.run.metrics

    def column(self, kind: str, class_name: str | None = None) -> str:
        """The CSV column of `label`, `pred` or `prob` (with its class) of this task."""
        parts = [kind, self.name, class_name]
        return "/".join(p for p in parts if p is not None)

    @property
    def threshold(self) -> float | None:
        """The decision threshold of a screening model; None for argmax decisions."""
        at = self.metrics.get(f"{self.prefix}/at_threshold")
        return float(at["threshold"]) if at else None

    @property
    def threshold_from(self) -> str:
        """Where the threshold comes from (`chosen on validation`, `set by model.decision.threshold`)."""
        return self.metrics[f"{self.prefix}/at_threshold"].get("threshold_from", "chosen on validation")

    @property
    def positive(self) -> str | None:
        """A screening model's positive class (None for argmax decisions): the config's, else the
        one whose `p >= threshold` rows are exactly those test_predictions.csv decides positive."""
        t = self.threshold
        if t is None:
            return None
        predictions = self.run.predictions
        configured = self.run.config.get("model", {}).get("decision", {}).get("positive_class")
        if configured in self.class_names or "pred_at_threshold" not in predictions:
            return configured if configured in self.class_names else None
        decided = predictions["pred_at_threshold"]
        matches = [c for c in self.class_names if ((decided == c) == (predictions[self.column("prob", c)] >= t)).all()]
        return matches[0] if len(matches) == 1 else None

    def caption(self) -> str:
        """Task, split, checkpoint and decision rule, for every figure title (STYLE rule 14)."""
        t = self.threshold
        rule = "argmax" if t is None else f"positive when p >= {t:.4g} ({self.threshold_from})"
        task = "" if self.name is None else f"{self.name}: "
        return f"{task}{self.run.stage} split, {self.run.checkpoint}, {rule}"

    def labels_and_probs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(N,) class indices and (N, k) probabilities of the test_predictions.csv rows that carry
        this task's label (a joint run leaves it empty where the clip has none)."""
        rows = self.run.predictions[self.run.predictions[self.column("label")] != ""]
        index = {name: i for i, name in enumerate(self.class_names)}
        labels = torch.tensor(rows[self.column("label")].map(index).to_numpy())
        probs = torch.tensor(rows[[self.column("prob", c) for c in self.class_names]].to_numpy(dtype=float))
        return labels, probs.float()


def read_run(folder: str | Path) -> RunFiles:
    """Read the report's inputs from `folder`; metrics.json and test_predictions.csv must be there."""
    folder = Path(folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    data_file, epochs_file = folder / "data_report.json", folder / "epochs.csv"
    overrides_file = folder / ".hydra" / "overrides.yaml"
    return RunFiles(
        folder=folder,
        metrics=metrics,
        predictions=pd.read_csv(folder / PREDICTIONS, keep_default_na=False),  # an empty label: none
        data=json.loads(data_file.read_text()) if data_file.is_file() else {},
        epochs=pd.read_csv(epochs_file) if epochs_file.is_file() else None,
        config=_run_config(folder, metrics["checkpoint"]),
        overrides=(yaml.safe_load(overrides_file.read_text()) or []) if overrides_file.is_file() else [],
    )


def _run_config(folder: Path, checkpoint: str) -> dict:
    """The checkpoint's stored config (memory-mapped: the weights are not read), else .hydra's."""
    if checkpoint and Path(checkpoint).is_file():
        ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
        return ckpt.get("voxray", {}).get("config") or {}
    hydra_file = folder / ".hydra" / "config.yaml"
    if not hydra_file.is_file():
        return {}
    return OmegaConf.to_container(OmegaConf.load(hydra_file), resolve=False)
