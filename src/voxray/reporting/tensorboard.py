"""What TensorBoard shows beyond scalar curves: confusion matrix, PR/ROC curves, sample inputs, HPARAMS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure
from torchmetrics.functional.classification import multiclass_roc

from voxray.reporting.plots import confusion_figure


def roc_figure(probs: torch.Tensor, targets: torch.Tensor, class_names: Sequence[str], title: str) -> Figure:
    """One-vs-rest ROC curve of every class (classes absent from `targets` are left out)."""
    fpr, tpr, _ = multiclass_roc(probs, targets, num_classes=len(class_names))
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    for c, name in enumerate(class_names):
        if (targets == c).any():
            ax.plot(fpr[c].numpy(), tpr[c].numpy(), label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def samples_figure(images: torch.Tensor, targets: torch.Tensor, probs: torch.Tensor,
                   class_names: Sequence[str]) -> Figure:
    """A grid of network inputs (mel images or X-rays, first channel) titled true / predicted (p)."""
    n = len(images)
    cols = min(4, n)
    rows = -(-n // cols)
    wide = images.shape[-1] > 1.5 * images.shape[-2]  # a mel image (F x T) is wide
    fig, axes = plt.subplots(rows, cols, figsize=(cols * (3.2 if wide else 2.2), rows * 2.2), squeeze=False, dpi=90)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, y, p in zip(axes.flat, images, targets, probs):
        ax.imshow(img[0].numpy(), origin="lower" if wide else "upper", aspect="auto", cmap="magma" if wide else "gray")
        pred = int(p.argmax())
        color = "green" if pred == int(y) else "red"
        ax.set_title(f"{class_names[int(y)]} / {class_names[pred]} ({float(p[pred]):.2f})", fontsize=7, color=color)
    fig.suptitle("true / predicted (probability)", fontsize=8)
    fig.tight_layout()
    return fig


def log_eval_epoch(
    logger: TensorBoardLogger, stage: str, step: int, class_names: Sequence[str], confmat: list,
    probs: torch.Tensor, targets: torch.Tensor, examples: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
) -> None:
    """Confusion matrix, ROC curves, per-class PR curves and sample inputs of one eval epoch."""
    exp = logger.experiment
    exp.add_figure(f"{stage}/confusion_matrix", confusion_figure(confmat, class_names, f"{stage} epoch {step}"), step)
    exp.add_figure(f"{stage}/roc", roc_figure(probs, targets, class_names, f"{stage} ROC, epoch {step}"), step)
    for c, name in enumerate(class_names):
        exp.add_pr_curve(f"{stage}/pr/{name}", targets == c, probs[:, c], step)
    if examples is not None:
        exp.add_figure(f"{stage}/samples", samples_figure(*examples, class_names), step)


def flatten_config(cfg: Mapping, prefix: str = "") -> dict[str, float | int | str | bool]:
    """Nested config -> {"a/b": value} with TensorBoard-friendly values (lists and None as text)."""
    flat: dict = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_config(value, f"{name}/"))
        else:
            flat[name] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


def log_hparams(loggers: Sequence, run_config: Mapping, metrics: Mapping[str, float]) -> None:
    """The run's settings with its final metrics, for TensorBoard's HPARAMS tab."""
    params = {k: v for k, v in flatten_config(run_config).items()
              if k.split("/")[0] in ("model", "data", "trainer", "seed")}
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(params, {f"hp/{k}": v for k, v in metrics.items()})
