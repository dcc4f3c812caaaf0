"""`<run>/report.html`: one self-contained page (PNG figures beside it, no script, no server)."""

from __future__ import annotations

import re
from datetime import datetime
from html import escape

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from voxray.html_report.calibration import reliability_figure
from voxray.html_report.curves import roc_pr_figure
from voxray.html_report.figures import learning_figure, recall_figure
from voxray.html_report.gallery import FOLDER, gallery_html
from voxray.html_report.run_files import RunFiles
from voxray.html_report.shell import document
from voxray.html_report.tables import data_html, metrics_html, number, settings_html
from voxray.plots import confusion_figure


def _save(fig: Figure, run: RunFiles, name: str) -> str:
    """Save a figure under `<run>/report/`; returns the page's relative link to it."""
    path = run.folder / FOLDER / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return (FOLDER / name).as_posix()


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{escape(alt)}">'


def _confusion_html(run: RunFiles) -> str:
    """The run's confusion PNGs (argmax, at the threshold) and, for voice, the speakers' matrix."""
    s = run.stage
    parts = ["<h2>Confusion matrices</h2>"]
    written = ((f"confusion_matrix_{s}.png", "argmax"), (f"confusion_matrix_{s}_at_threshold.png", "at the threshold"))
    for name, alt in written:
        if (run.folder / name).is_file():
            parts.append(_img(name, f"confusion matrix, {alt}"))
    speaker = run.metrics.get(f"{s}/speaker")
    if speaker:
        fig = confusion_figure(speaker["confmat"], run.class_names,
                               f"{s} split, {run.checkpoint}\nargmax of each speaker's mean log-probability")
        parts.append(_img(_save(fig, run, f"confusion_matrix_{s}_speaker.png"), "confusion matrix, speakers"))
    return "\n".join(parts)


def _learning_html(run: RunFiles) -> str:
    if run.epochs is None or run.epochs.empty:
        return ("<h2>Learning curves</h2><p>None: this run did not train (an evaluation), "
                "or it trained without the epoch_history callback (no epochs.csv).</p>")
    monitor = run.config.get("optimized_metric", "val/loss")
    found = re.search(r"epoch_(\d+)", run.checkpoint)
    fig = learning_figure(run.epochs, monitor, int(found.group(1)) if found else None, run.checkpoint)
    return "<h2>Learning curves</h2>" + _img(_save(fig, run, "learning_curves.png"), "learning curves")


def render(run: RunFiles) -> str:
    """The page's HTML; writes its figures into `<run>/report/` as it goes."""
    s = run.stage
    fig, ece = reliability_figure(run)
    calibration = _img(_save(fig, run, f"reliability_{s}.png"), "reliability diagram")
    sections = [
        f"<h1>Run report: {escape(run.folder.name)}</h1>",
        f"<p>{escape(s)} split of <code>{escape(run.metrics['checkpoint'] or 'no checkpoint')}</code>; "
        f"written {datetime.now():%Y-%m-%d %H:%M}. Figures say split, checkpoint and decision rule.</p>",
        settings_html(run), data_html(run), metrics_html(run),
        "<h2>Recall per class</h2>" + _img(_save(recall_figure(run), run, f"recall_{s}.png"), "recall per class"),
        _confusion_html(run),
        "<h2>ROC and precision-recall</h2>" + _img(_save(roc_pr_figure(run), run, f"roc_pr_{s}.png"), "ROC and PR"),
        f'<h2>Calibration</h2><p>Expected calibration error (top label, torchmetrics): '
        f'<span data-key="ece">{number(ece)}</span></p>' + calibration,
        _learning_html(run),
        gallery_html(run.folder, run.caption()),
    ]
    return document(f"{run.folder.name} report", "\n".join(p for p in sections if p))
