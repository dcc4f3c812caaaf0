"""`test_predictions.csv`: every test clip or film with its label, decision and probabilities.

The metrics summarise; this file lets a person find the speakers and films behind them, and lets
evaluations be pooled across runs (cross-validation folds, as `experiments/real_speech` does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from voxray.evaluation.decision import decide
from voxray.models.tasks import Tasks

FILE = "test_predictions.csv"


def predictions_table(
    rows: pd.DataFrame, probs: np.ndarray, class_names: Sequence[str] | Mapping[str, Sequence[str]],
    group_name: str, decision: tuple[int, float] | None = None,
) -> pd.DataFrame:
    """One line per row: path, group (named `group_name`), label, pred (argmax), prob/<class>; for a
    joint model label/<task> (empty where the row has none), pred/<task>, prob/<task>/<class>.

    Args:
        rows: the evaluated rows (path, group, label_name columns; label_name/<task> for a joint
            model), in the order of `probs`.
        probs: (N, k) class probabilities (a joint model's tasks side by side, as its logits).
        class_names: the k class names, or a mapping task -> class names.
        group_name: the group column's name ("speaker", "patient").
        decision: (positive class index, threshold) of a screening model: adds
            `pred_at_threshold`, the class decided by p(positive) >= threshold.
    """
    probs = np.asarray(probs)
    table = pd.DataFrame({"path": rows["path"].to_numpy(), group_name: rows["group"].astype(str).to_numpy()})
    if isinstance(class_names, Mapping):
        for task in Tasks(class_names):  # each task's slice of the probability columns
            part, names = probs[:, task.columns], np.asarray(task.classes)
            table[f"label/{task.name}"] = rows[f"label_name/{task.name}"].to_numpy()
            table[f"pred/{task.name}"] = names[part.argmax(axis=1)]
            for i, name in enumerate(task.classes):
                table[f"prob/{task.name}/{name}"] = part[:, i]
        return table
    names = np.asarray(class_names)
    table["label"] = rows["label_name"].to_numpy()
    table["pred"] = names[probs.argmax(axis=1)]
    if decision is not None:
        positive, threshold = decision
        negative = names[1 - positive] if len(names) == 2 else "not " + names[positive]
        positive_at = decide(torch.from_numpy(probs[:, positive]), threshold).numpy()
        table["pred_at_threshold"] = np.where(positive_at, names[positive], negative)
    for i, name in enumerate(class_names):
        table[f"prob/{name}"] = probs[:, i]
    return table


def write_test_predictions(datamodule, model, out_dir: str | Path) -> Path:
    """`<out_dir>/test_predictions.csv` of a tested `Classifier` on its datamodule's test split."""
    rows = datamodule.table[datamodule.table["split"] == "test"]  # the test dataset's order
    outputs = model.test_outputs
    rows = rows.iloc[outputs["index"].cpu().numpy()]
    decision = (model.positive, float(model.threshold)) if model.decision else None
    table = predictions_table(rows, outputs["probs"].float().cpu().numpy(), model.class_names,
                              datamodule.group_name, decision)
    path = Path(out_dir) / FILE
    table.to_csv(path, index=False)
    return path
