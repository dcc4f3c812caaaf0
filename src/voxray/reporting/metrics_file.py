"""Write a stage's metrics as JSON and its confusion matrix as PNG into a run folder."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt

from voxray.reporting.plots import confusion_figure


def undefined_as_null(value: object) -> object:
    """`value` with every NaN float (an undefined metric, e.g. the AUROC of one class) as None,
    which JSON writes as null: NaN is no JSON value, and readers other than Python refuse it."""
    if isinstance(value, float) and not math.isfinite(value):  # NaN, or -inf: a best score never defined
        return None
    if isinstance(value, dict):
        return {k: undefined_as_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [undefined_as_null(v) for v in value]
    return value


def write_json(path: Path, payload: dict) -> None:
    """`payload` as indented JSON, undefined (NaN) values as null."""
    path.write_text(json.dumps(undefined_as_null(payload), indent=2, allow_nan=False))


def write_stage_report(
    metrics: dict, class_names: Sequence[str] | Mapping[str, Sequence[str]], out_dir: str | Path, stage: str,
    ckpt_path: str = "", epoch: int | None = None,
) -> Path:
    """`<out_dir>/metrics.json` (scalars, per-class recall, confusion matrix, null where undefined; the
    checkpoint tested and the epoch it was saved at) and
    `<out_dir>/confusion_matrix_<stage>.png` (argmax decisions), plus for a screening model
    `confusion_matrix_<stage>_at_threshold.png` (its decisions); returns the JSON path.

    For a joint model (`class_names` maps task -> class names) each task's metrics are named
    `<stage>/<task>/...` and its figure is `confusion_matrix_<stage>_<task>.png`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "metrics.json"
    joint = isinstance(class_names, Mapping)
    names = {t: list(c) for t, c in class_names.items()} if joint else list(class_names)
    payload = {"stage": stage, "checkpoint": str(ckpt_path), "epoch": epoch, "class_names": names, **metrics}
    write_json(path, payload)
    if joint:
        figures = {f"confusion_matrix_{stage}_{t}.png": (metrics[f"{stage}/{t}/confmat"], c, f"{t}, argmax decision")
                   for t, c in names.items()}
    else:
        figures = {f"confusion_matrix_{stage}.png": (metrics[f"{stage}/confmat"], names, "argmax decision")}
    at = metrics.get(f"{stage}/at_threshold")
    if at:  # a screening model: what it decides at its threshold (chosen on validation, or set)
        origin = at.get("threshold_from", "chosen on validation")
        rule = f"positive when p >= {at['threshold']:.4g}\n(threshold {origin})"
        figures[f"confusion_matrix_{stage}_at_threshold.png"] = (at["confmat"], names, rule)
    checkpoint = Path(ckpt_path).name + ("" if epoch is None else f" (epoch {epoch})")
    for name, (confmat, classes, rule) in figures.items():
        fig = confusion_figure(confmat, classes, f"{stage} split, {checkpoint}\n{rule}")
        fig.savefig(out_dir / name)
        plt.close(fig)
    return path
