"""Grad-CAM overlays for a sample of true positives, false negatives and false positives."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch.utils.data import DataLoader

from voxray.evaluation.decision import decide
from voxray.models.classifier import Classifier

GROUPS = ("true_positive", "false_negative", "false_positive")


def target_layer(net: torch.nn.Module) -> torch.nn.Module:
    """The last feature stage of a timm model (its `feature_info`), where Grad-CAM is read."""
    info = getattr(net, "feature_info", None)
    if not info:
        raise ValueError(f"{type(net).__name__} has no timm feature_info; Grad-CAM needs a timm backbone")
    return net.get_submodule(info[-1]["module"])


@torch.inference_mode()
def _scores(model: Classifier, loader: DataLoader, positive: int) -> tuple[np.ndarray, np.ndarray]:
    scores, targets = [], []
    for x, y, _ in loader:
        scores.append(model(x.to(model.device)).float().softmax(1)[:, positive].cpu())
        targets.append(y)
    return torch.cat(scores).numpy(), torch.cat(targets).numpy()


def write_gradcam(model: Classifier, loader: DataLoader, out_dir: str | Path, per_group: int = 8,
                  seed: int = 0) -> dict[str, int]:
    """Write `<out_dir>/gradcam/<group>_<i>.png` overlays, a `gradcam/overview.png` grid and
    `gradcam/gradcam.csv` (file, group, index in the test set, p of the positive class).

    Decisions use the model's stored threshold. Args: model (eval mode is set here), loader
    (unshuffled test loader), out_dir, per_group (8 images per group), seed (sampling).
    Returns the number of images written per group.
    """
    if not model.decision:
        raise ValueError("Grad-CAM groups need a binary decision (model.decision.positive_class)")
    model.eval()
    positive, threshold = model.positive, float(model.threshold)
    scores, targets = _scores(model, loader, positive)
    pred, truth = decide(torch.from_numpy(scores), threshold).numpy(), targets == positive
    members = {"true_positive": pred & truth, "false_negative": ~pred & truth, "false_positive": pred & ~truth}
    rng = np.random.default_rng(seed)
    folder = Path(out_dir) / "gradcam"
    folder.mkdir(parents=True, exist_ok=True)
    cam = GradCAM(model=model.net, target_layers=[target_layer(model.net)])
    dataset, written, tiles, listed = loader.dataset, {}, [], []
    for group in GROUPS:
        idx = np.flatnonzero(members[group])
        idx = rng.choice(idx, size=min(per_group, len(idx)), replace=False) if len(idx) else idx
        for i in idx:
            raw = dataset[int(i)][0].unsqueeze(0).to(model.device)  # (1, H, W) uint8
            # the input asks for gradients: with a frozen backbone (a fine-tuning schedule's first
            # epochs) nothing else would, and the target layer would get none
            x = model.frontend(raw).requires_grad_(True)  # (1, C, h, w), eval crop + normalisation
            heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(positive)])[0]  # (h, w) in [0, 1]
            gray = x[0, 0].detach().cpu().numpy()
            gray = (gray - gray.min()) / max(gray.max() - gray.min(), 1e-6)
            overlay = show_cam_on_image(np.repeat(gray[..., None], 3, axis=2).astype(np.float32), heat, use_rgb=True)
            name = f"{group}_{int(i):05d}.png"
            plt.imsave(folder / name, overlay)
            tiles.append((group, float(scores[i]), overlay))
            listed.append({"file": name, "group": group, "index": int(i), "p": float(scores[i])})
        written[group] = len(idx)
    _overview(tiles, threshold, folder / "overview.png")
    pd.DataFrame(listed, columns=["file", "group", "index", "p"]).to_csv(folder / "gradcam.csv", index=False)
    return written


def _overview(tiles: list[tuple[str, float, np.ndarray]], threshold: float, path: Path) -> None:
    """One figure with every overlay, titled by group and score, for a quick look."""
    if not tiles:
        return
    cols = min(8, len(tiles))
    rows = -(-len(tiles) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (group, score, img) in zip(axes.flat, tiles):
        ax.imshow(img)
        ax.set_title(f"{group.replace('_', ' ')}\np={score:.4g}", fontsize=7)
    fig.suptitle(f"Grad-CAM, test split (positive when p >= {threshold:.4g})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
