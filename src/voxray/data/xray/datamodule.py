"""The chest X-ray DataModule: Kermany / Radiography / manifest folders -> uint8 images, cached."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from voxray.data.datamodule import ArrayDataModule
from voxray.data.dataset import Plan
from voxray.data.xray.images import load_xray, pixel_digest
from voxray.data.xray.layouts import XRAY_TASK_CLASSES, read_xray_dataset
from voxray.data.xray.splits import assign_splits, check_leakage, find_duplicates


def load_xray_row(path: str, size: int) -> tuple[np.ndarray, dict]:
    """The cache loader: the letterboxed 8-bit image and its pixel hash, which finds byte-identical
    copies and lossless re-encodes (PNG/TIFF/DICOM) alike, at no extra read."""
    image = load_xray(path, size)
    return image, {"sha256": pixel_digest(image)}


class XrayDataModule(ArrayDataModule):
    """Chest radiographs for pneumonia, split patient-disjointly; the official test set untouched.

    Args:
        root: dataset folder or manifest CSV; None builds the embedded synthetic Kermany-style set.
        task: binary | subtype | radiography.
        classes: the task's class names (the config interpolates them from `task_classes`).
        task_classes: class names of every task, as the config lists them; checked against the
            readers' names so a renamed class fails here rather than as an empty class.
        image_size: stored side in pixels (256; aspect kept by letterboxing).
        val_fraction: validation share drawn from train, patient-disjoint (0.1).
        test_fraction: test share for layouts without an official test split (0.15).
        use_official_val: use Kermany's 16-image val folder as is (False).
        allow_leakage: train even if an image appears in two splits (False).
        seed: split seed (it also orders training batches).
        **kwargs: `ArrayDataModule` arguments (cache_dir, report_dir, batch_size, num_workers,
            synthetic: `build_xray_corpus` arguments for the embedded set).
    """

    def __init__(
        self,
        root: str | None,
        task: str,
        classes: Sequence[str],
        task_classes: Mapping[str, Sequence[str]] | None = None,
        image_size: int = 256,
        val_fraction: float = 0.1,
        test_fraction: float = 0.15,
        use_official_val: bool = False,
        allow_leakage: bool = False,
        seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(root=root, classes=classes, seed=seed, **kwargs)
        if task not in XRAY_TASK_CLASSES:
            raise ValueError(f"data.task must be one of {list(XRAY_TASK_CLASSES)}, got {task!r}")
        for name, names in {**(task_classes or {}), task: classes}.items():
            if tuple(names) != XRAY_TASK_CLASSES.get(name):
                raise ValueError(f"classes of task {name!r} must be {XRAY_TASK_CLASSES.get(name)}, got {list(names)}")
        self.task, self.image_size = task, image_size
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.use_official_val, self.allow_leakage = use_official_val, allow_leakage

    def build_synthetic(self, folder: Path) -> Path:
        from voxray.synth.xray import build_xray_corpus  # only needed without a data root

        return build_xray_corpus(folder, num_workers=self.num_workers or None, **self.synthetic)

    def loader(self) -> partial:
        return partial(load_xray_row, size=self.image_size)

    def example_input(self, batch: int = 2) -> torch.Tensor:
        """uint8 letterboxed films."""
        return torch.randint(0, 256, (batch, self.image_size, self.image_size), dtype=torch.uint8)

    def preparation(self) -> dict:
        return {
            "decode": "grayscale; 16-bit and DICOM sources mapped from their [min, max] to 0..255",
            "letterbox": True, "image_size": self.image_size,
            "crop": "none before the graph",
        }

    def plan(self) -> Plan:
        root = self.corpus_root()
        table, report = read_xray_dataset(root, self.task)
        table["split"] = assign_splits(
            table, self.val_fraction, self.test_fraction, self.seed, self.use_official_val
        )
        table["label_name"] = table["label"]
        table["label"] = table["label_name"].map({c: i for i, c in enumerate(self.classes)}).astype(int)
        table["group"] = table["patient_id"]
        folder = Path(os.path.abspath(root))  # as read_xray_dataset joins the image paths to it
        return Plan(
            table=table,
            load=self.loader(),
            shape=(self.image_size, self.image_size),
            dtype="uint8",
            key_parts=[{"image_size": self.image_size, "loader": "letterbox-v1"}],
            group_name="patient",
            report={"root": str(root), **report},
            root=folder if folder.is_dir() else folder.parent,  # a manifest CSV's paths are under its folder
        )

    def check_prepared(self, table: pd.DataFrame) -> dict:
        """Exact duplicate files; a copy spanning two splits stops the run unless allowed."""
        dups = find_duplicates(table, table["sha256"])
        check_leakage(dups, allow=self.allow_leakage)
        if self.report_dir is not None and len(dups):
            self.report_dir.mkdir(parents=True, exist_ok=True)
            dups.to_csv(self.report_dir / "duplicates.csv", index=False)
        return {"duplicate_groups": len(dups), "duplicate_groups_across_splits": int(dups["cross_split"].sum())}
