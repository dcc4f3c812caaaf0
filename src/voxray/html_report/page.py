"""`<run>/report.html`: one self-contained page (PNG figures beside it, no script, no server)."""

from __future__ import annotations

from datetime import datetime
from html import escape

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from voxray.html_report.calibration import reliability_figure
from voxray.html_report.curves import roc_pr_figure
from voxray.html_report.figures import learning_figure, recall_figure
from voxray.html_report.gallery import FOLDER, gallery_html
from voxray.html_report.run_files import RunFiles, TaskView
from voxray.html_report.shell import document
from voxray.html_report.tables import data_html, metrics_html, number, settings_html
from voxray.reporting.plots import confusion_figure


def _save(fig: Figure, run: RunFiles, name: str) -> str:
    """Save a figure under `<run>/report/`; returns the page's relative link to it."""
    path = run.folder / FOLDER / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return (FOLDER / name).as_posix()


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{escape(alt)}">'


def _confusion_html(task: TaskView, h: str) -> str:
    """The run's confusion PNGs (argmax, at the threshold) and, for voice, the speakers' matrix."""
    run, tag = task.run, task.tag
    parts = [f"<{h}>Confusion matrices</{h}>"]
    written = ((f"confusion_matrix_{tag}.png", "argmax"),
               (f"confusion_matrix_{tag}_at_threshold.png", "at the threshold"))
    for name, alt in written:
        if (run.folder / name).is_file():
            parts.append(_img(name, f"confusion matrix, {alt}"))
    speaker = task.metrics.get(f"{task.prefix}/speaker")
    if speaker:
        title = ("" if task.name is None else f"{task.name}: ") + f"{run.stage} split, {run.checkpoint}"
        fig = confusion_figure(speaker["confmat"], task.class_names,
                               f"{title}\nargmax of each speaker's mean log-probability")
        parts.append(_img(_save(fig, run, f"confusion_matrix_{tag}_speaker.png"), "confusion matrix, speakers"))
    return "\n".join(parts)


def _task_html(task: TaskView) -> str:
    """A task's figures; in a joint run under its own heading, after its metrics table."""
    run, tag, h = task.run, task.tag, "h2" if task.name is None else "h3"
    fig, ece = reliability_figure(task)
    calibration = _img(_save(fig, run, f"reliability_{tag}.png"), "reliability diagram")
    parts = [] if task.name is None else [
        f"<h2>Task: {escape(task.name)}</h2>",
        metrics_html(task.metrics, task.prefix, f"Metrics, {task.name}", level=3, unit=run.group_name)]
    ece_key, rows = "ece", ""
    if task.name is not None:
        ece_key = f"{task.name}/ece"
        rows = f", over the {task.metrics[f'{task.prefix}/n_examples']} test rows labelled for {escape(task.name)}"
    return "\n".join([
        *parts,
        f"<{h}>Recall per class</{h}>" + _img(_save(recall_figure(task), run, f"recall_{tag}.png"), "recall per class"),
        _confusion_html(task, h),
        f"<{h}>ROC and precision-recall</{h}>"
        + _img(_save(roc_pr_figure(task), run, f"roc_pr_{tag}.png"), "ROC and PR"),
        f"<{h}>Calibration</{h}><p>Expected calibration error (top label, torchmetrics{rows}): "
        f'<span data-key="{ece_key}">{number(ece)}</span></p>' + calibration,
    ])


def _learning_html(run: RunFiles, task_names: list[str]) -> str:
    if run.epochs is None or run.epochs.empty:
        return ("<h2>Learning curves</h2><p>None: this run did not train (an evaluation), "
                "or it trained without the epoch_history callback (no epochs.csv).</p>")
    monitor = run.config.get("optimized_metric", "val/loss")
    fig = learning_figure(run.epochs, monitor, run.tested_epoch, run.checkpoint, task_names)
    return "<h2>Learning curves</h2>" + _img(_save(fig, run, "learning_curves.png"), "learning curves")


def render(run: RunFiles) -> str:
    """The page's HTML; writes its figures into `<run>/report/` as it goes."""
    s, tasks = run.stage, run.tasks
    names = [t.name for t in tasks if t.name is not None]
    headline = metrics_html(run.metrics, s, f"Metrics, {s} split", skip=tuple(names), unit=run.group_name)
    if names:
        headline += (f"<p>A joint run: {s}/uar is the mean of the tasks' UARs ({', '.join(map(escape, names))}); "
                     "each task's section below scores the rows that carry its label.</p>")
    sections = [
        f"<h1>Run report: {escape(run.folder.name)}</h1>",
        f"<p>{escape(s)} split of <code>{escape(run.metrics['checkpoint'] or 'no checkpoint')}</code>; "
        f"written {datetime.now():%Y-%m-%d %H:%M}. Figures say split, checkpoint and decision rule.</p>",
        settings_html(run), data_html(run), headline,
        *map(_task_html, tasks),
        _learning_html(run, names),
        gallery_html(run.folder, tasks[0].caption()),
    ]
    return document(f"{run.folder.name} report", "\n".join(p for p in sections if p))
