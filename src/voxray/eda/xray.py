"""X-ray EDA: class counts and loss weights, sample radiographs, original sizes and intensities per
class and source, mean images, and duplicates across splits. Large sets are sampled (`max_images`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pydicom
from matplotlib.figure import Figure
from PIL import Image

from voxray.data.splits import SPLITS
from voxray.data.xray.datamodule import XrayDataModule
from voxray.data.xray.splits import find_duplicates
from voxray.eda.index import Item, save_figure, table_item
from voxray.eda.plots import count_bars, mean_images
from voxray.models.losses import class_weights

STATS = ("width", "height", "aspect", "mean_intensity", "std_intensity")
# Single-channel modes: Pillow's 1-bit, 8-bit, 16/32-bit integer and float; DICOM's monochromes.
GREY_MODES = ("1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "MONOCHROME1", "MONOCHROME2")


def xray_figures(
    datamodule: XrayDataModule, out_dir: Path, seed: int, max_images: int = 2000, n_examples: int = 6
) -> list[Item]:
    """Draw every X-ray figure into `out_dir`; returns their index entries.

    Args:
        datamodule: a set-up `XrayDataModule`.
        out_dir: the run folder.
        seed: sampling seed.
        max_images: images sampled for header reads, intensity statistics and mean images (2000).
        n_examples: sample radiographs per class (6).
    """
    rng = np.random.default_rng(seed)
    table, classes = datamodule.table, datamodule.classes
    weights = class_weights(datamodule.class_counts("train"), "balanced").tolist()
    shown = ", ".join(f"{c} {w:.2f}" for c, w in zip(classes, weights))
    counts = pd.crosstab(table["label_name"], table["split"]).reindex(index=classes, fill_value=0)
    counts = counts.reindex(columns=[s for s in SPLITS if s in counts.columns])
    counts = counts.assign(total=counts.sum(axis=1), loss_weight=np.round(weights, 3))
    items = [
        save_figure(count_bars({"class": (table["label_name"], classes)}, table["split"]), out_dir,
                    "class_counts", "Classes per split",
                    f"Images per class, all splits (top) and per split (bottom). Balanced loss "
                    f"weights from the training counts (n / (k * count)): {shown}."),
        table_item(counts.rename_axis("class").reset_index(), "Class counts and loss weights",
                   "Rows: classes; loss_weight = voxray.models.losses.class_weights(train counts, 'balanced')."),
        save_figure(sample_grid(datamodule, n_examples, rng), out_dir, "samples", "Sample radiographs",
                    f"{n_examples} random images per class as cached (letterboxed to "
                    f"{datamodule.image_size} px); titles: split and patient."),
    ]
    picked = np.sort(rng.choice(len(table), size=min(max_images, len(table)), replace=False))
    stats, histograms = image_stats(table.iloc[picked].reset_index(drop=True), datamodule.data)
    stats.to_csv(out_dir / "image_stats.csv", index=False)
    share = (~stats["mode"].isin(GREY_MODES)).mean()
    for by, name in (("label_name", "class"), ("source", "source")):
        items.append(save_figure(
            stats_figure(stats, histograms, by), out_dir, f"image_stats_{name}",
            f"Image size, aspect and intensity per {name}",
            f"{len(stats)} sampled images. Size from the original files' headers; intensity from the "
            f"cached 8-bit image inside the letterbox. {share:.0%} of files are not single-channel "
            f"grey (mode in image_stats.csv)."))
    items.append(mean_image_item(datamodule, table.iloc[picked], out_dir))
    items.append(duplicates_item(table))
    return items


def mean_image_item(datamodule: XrayDataModule, sample: pd.DataFrame, out_dir: Path) -> Item:
    """The pixel-wise mean cached image of each class in `sample`, and their difference."""
    means, counts = {}, {}
    for c in datamodule.classes:
        rows = np.sort(sample.loc[sample["label_name"] == c, "row"].to_numpy())
        if len(rows):
            total = np.zeros(datamodule.data.shape[1:])
            for start in range(0, len(rows), 256):  # a running sum: 2000 float images = 1 GB
                total += datamodule.data[rows[start : start + 256]].sum(axis=0, dtype=np.float64)
            means[c], counts[c] = total / len(rows), len(rows)
    difference = ("right: the second class minus the first" if len(means) == 2
                  else "bottom: each class minus the mean of all")
    return save_figure(mean_images(means, counts, pairwise=True, cmap="gray", origin="upper"), out_dir,
                       "mean_images", "Mean image per class",
                       f"Pixel-wise mean of the {len(sample)} sampled cached images; {difference}.")


def sample_grid(datamodule: XrayDataModule, n: int, rng: np.random.Generator) -> Figure:
    """Rows: classes; columns: `n` random cached images of the class."""
    table, classes = datamodule.table, datamodule.classes
    fig, axes = plt.subplots(len(classes), n, figsize=(2.2 * n, 2.4 * len(classes)), squeeze=False)
    for i, c in enumerate(classes):
        part = table[table["label_name"] == c]
        chosen = part.iloc[rng.permutation(len(part))[:n]]
        for ax, (_, row) in zip(axes[i], chosen.iterrows()):
            ax.imshow(datamodule.data[row["row"]], cmap="gray", vmin=0, vmax=255)
            ax.set_title(f"{row['split']} · {row['patient_id']}", fontsize=7)
        axes[i, 0].set_ylabel(c, fontsize=11)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


def read_header(path: str) -> tuple[float, float, str]:
    """(width, height, mode) from the file's header only; DICOM mode is its photometric
    interpretation. NaN sizes and mode "unreadable" when neither Pillow nor pydicom can read it."""
    try:
        with Image.open(path) as image:  # opening reads the header; pixels are decoded lazily
            return float(image.size[0]), float(image.size[1]), image.mode
    except Exception:  # noqa: BLE001 - not a Pillow format: try DICOM below
        pass
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        return float(ds.Columns), float(ds.Rows), str(ds.get("PhotometricInterpretation", ""))
    except Exception:  # noqa: BLE001 - a header we cannot read is reported, not fatal
        return np.nan, np.nan, "unreadable"


def image_stats(sample: pd.DataFrame, data: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Per image: original width, height, aspect, mode; mean and std of the cached pixels inside
    the letterbox. Also the normalised 256-bin pixel histogram of each image, (n, 256)."""
    rows, histograms = [], np.zeros((len(sample), 256))
    for i, (_, item) in enumerate(sample.iterrows()):
        width, height, mode = read_header(item["path"])
        image = data[item["row"]]
        if np.isfinite(width):  # the letterbox geometry of load_xray: longer side = image size
            size = image.shape[0]
            new_w, new_h = round(width * size / max(width, height)), round(height * size / max(width, height))
            top, left = (size - new_h) // 2, (size - new_w) // 2
            image = image[top : top + new_h, left : left + new_w]
        histograms[i] = np.bincount(image.ravel(), minlength=256) / image.size
        rows.append({"path": item["path"], "label_name": item["label_name"], "source": item["source"],
                     "split": item["split"], "width": width, "height": height,
                     "aspect": width / height, "mode": mode,
                     "mean_intensity": float(image.mean()), "std_intensity": float(image.std())})
    return pd.DataFrame(rows), histograms


def stats_figure(stats: pd.DataFrame, histograms: np.ndarray, by: str) -> Figure:
    """One panel per statistic (a step histogram per group) and the pooled pixel histogram."""
    fig, axes = plt.subplots(1, len(STATS) + 1, figsize=(4 * (len(STATS) + 1), 3.4))
    groups = sorted(stats[by].unique(), key=str)
    for ax, column in zip(axes, STATS):
        values = stats[column].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        bins = np.histogram_bin_edges(finite, bins=30) if finite.size else 10
        for g in groups:
            ax.hist(values[(stats[by] == g).to_numpy()], bins=bins, histtype="step", lw=1.3, label=str(g))
        ax.set(title=column, ylabel="images")
    for g in groups:
        axes[-1].plot(histograms[(stats[by] == g).to_numpy()].mean(0), label=str(g))
    axes[-1].set(title="pixel values (mean histogram)", yscale="log", xlabel="grey level")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def duplicates_item(table: pd.DataFrame) -> Item:
    """Identical images (equal pixel hashes) grouped by the splits they sit in."""
    dups = find_duplicates(table, table["sha256"])
    summary = (
        dups.assign(splits=dups["splits"].map("+".join))
        .groupby(["splits", "cross_split"], as_index=False)
        .agg(duplicate_groups=("digest", "size"), images=("n_images", "sum"))
    )
    leaks = int(summary.loc[summary["cross_split"], "duplicate_groups"].sum())
    caption = (f"{len(dups)} groups of identical images (pixel SHA-256 of the decoded image), "
               f"{leaks} of them across splits (leakage: a test or val image the model trains on). "
               "Every group is listed in duplicates.csv when there is one.")
    if summary.empty:
        summary = pd.DataFrame({"splits": ["-"], "cross_split": [False], "duplicate_groups": [0],
                                "images": [0]})
    return table_item(summary, "Duplicates and leakage across splits", caption)
