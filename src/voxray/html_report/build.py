"""The one call train.py and eval.py make once the test predictions are written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L

from voxray.html_report.gallery import write_gallery
from voxray.html_report.page import render
from voxray.html_report.run_files import read_run
from voxray.html_report.shell import REPORT

if TYPE_CHECKING:
    from voxray.models.classifier import Classifier


def write_report(run_dir: str | Path, model: Classifier | None = None, datamodule: L.LightningDataModule | None = None,
                 gradcam_per_group: int = 4) -> Path:
    """Write `<run_dir>/report.html` and its figures (`<run_dir>/report/`) from the run's files.

    Args:
        run_dir: a run folder holding metrics.json and test_predictions.csv.
        model: the tested Classifier (None: rebuild from the folder alone); an X-ray model
            writes a new Grad-CAM gallery, else the folder's gallery is reused.
        datamodule: its datamodule (the gallery reads its test loader).
        gradcam_per_group: films per outcome in the gallery (4).
    """
    run_dir = Path(run_dir)
    write_gallery(run_dir, model, datamodule, gradcam_per_group)
    path = run_dir / REPORT
    path.write_text(render(read_run(run_dir)))
    return path
