"""Write a stage's metrics as JSON and its confusion matrix as PNG into a run folder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt

from voxray.plots import confusion_figure


def write_stage_report(
    metrics: dict, class_names: Sequence[str], out_dir: str | Path, stage: str, ckpt_path: str = ""
) -> Path:
    """`<out_dir>/metrics.json` (scalars, per-class recall, confusion matrix) and
    `<out_dir>/confusion_matrix_<stage>.png` (argmax decisions), plus for a screening model
    `confusion_matrix_<stage>_at_threshold.png` (its decisions); returns the JSON path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "metrics.json"
    payload = {"stage": stage, "checkpoint": str(ckpt_path), "class_names": list(class_names), **metrics}
    path.write_text(json.dumps(payload, indent=2))
    figures = {f"confusion_matrix_{stage}.png": (metrics[f"{stage}/confmat"], "argmax decision")}
    at = metrics.get(f"{stage}/at_threshold")
    if at:  # a screening model: what it decides at its validation-chosen threshold
        rule = f"positive when p >= {at['threshold']:.4g}\n(threshold chosen on validation)"
        figures[f"confusion_matrix_{stage}_at_threshold.png"] = (at["confmat"], rule)
    for name, (confmat, rule) in figures.items():
        fig = confusion_figure(confmat, class_names, f"{stage} split, {Path(ckpt_path).name}\n{rule}")
        fig.savefig(out_dir / name)
        plt.close(fig)
    return path
