"""The X-ray report's Grad-CAM gallery: true positives, false negatives and false positives."""

from __future__ import annotations

import shutil
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import pandas as pd

from voxray.reporting.gradcam import GROUPS, write_gradcam

if TYPE_CHECKING:
    from voxray.models.classifier import Classifier

FOLDER = Path("report")  # the gallery's overlays: <run>/report/gradcam/


def write_gallery(run_dir: Path, model: Classifier | None, datamodule: L.LightningDataModule | None,
                  per_group: int) -> None:
    """Overlays of `per_group` test films per outcome at the model's threshold, replacing an older
    gallery (a resumed run tests another checkpoint); nothing for a model without a screening
    decision or without a timm backbone, or without a model."""
    if model is None or not model.decision or not getattr(model.net, "feature_info", None):
        return
    shutil.rmtree(run_dir / FOLDER / "gradcam", ignore_errors=True)
    write_gradcam(model, datamodule.test_dataloader(), run_dir / FOLDER, per_group)


def gallery_html(run_dir: Path, caption: str) -> str:
    """The gallery section from `report/gradcam/gradcam.csv`; empty when the run has none."""
    listing = run_dir / FOLDER / "gradcam" / "gradcam.csv"
    if not listing.is_file():
        return ""
    table = pd.read_csv(listing)
    parts = ["<h2>Grad-CAM</h2>",
             f"<p>Where the network looked for its positive class ({escape(caption)}); "
             "red is high evidence. Films drawn at random within each outcome.</p>"]
    for group in GROUPS:
        rows = table[table["group"] == group]
        parts.append(f"<h3>{group.replace('_', ' ')}s ({len(rows)} shown)</h3>")
        if rows.empty:
            parts.append("<p>none in the test split.</p>")
            continue
        tiles = [f'<figure><img class="cam" src="{(FOLDER / "gradcam" / r["file"]).as_posix()}" '
                 f'alt="{escape(r["file"])}">'
                 f'<figcaption>test film {r["index"]}, p = {r["p"]:.4f}</figcaption></figure>'
                 for r in rows.to_dict("records")]
        parts.append('<div class="gallery">' + "".join(tiles) + "</div>")
    return "\n".join(parts)
