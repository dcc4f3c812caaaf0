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
    `<out_dir>/confusion_matrix_<stage>.png`; returns the JSON path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "metrics.json"
    payload = {"stage": stage, "checkpoint": str(ckpt_path), "class_names": list(class_names), **metrics}
    path.write_text(json.dumps(payload, indent=2))
    fig = confusion_figure(metrics[f"{stage}/confmat"], class_names, f"{stage}: {Path(ckpt_path).name}")
    fig.savefig(out_dir / f"confusion_matrix_{stage}.png")
    plt.close(fig)
    return path
