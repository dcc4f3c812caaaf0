"""The report's tables as HTML: settings, data summary, metrics with their 95% CIs."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from voxray.evaluation.bootstrap import why_undefined

if TYPE_CHECKING:  # only for hints: sweep_page, which Hydra's callback imports in every run, needs no torch
    from voxray.html_report.run_files import RunFiles, TaskView

# the settings a reader compares runs by, shown when the run's config has them
SETTINGS = ("seed", "optimized_metric", "tags", "data._target_", "data.root", "data.target", "data.classes",
            "data.batch_size", "data.image_size", "model.net._target_", "model.net.name", "model.net.pretrained",
            "model.net.weights", "model.frontend.logmel.n_mels", "model.optimizer._target_", "model.optimizer.lr",
            "model.optimizer.weight_decay", "model.scheduler._target_", "model.loss.weighting",
            "model.decision.positive_class", "model.decision.target_sensitivity", "trainer.max_epochs",
            "trainer.accelerator", "trainer.devices", "trainer.precision")
DATA_FACTS = ("excluded", "rows_left_out", "ignored", "skipped_files", "skipped_list", "duplicate_groups",
              "duplicate_groups_across_splits", "patient_id_fallbacks", "group_check")
REPORT_DICTS = ("groups_per_class", "ci_undefined")  # a report's own dicts, not blocks of metrics
BLOCK_TITLES = {"at_0.5": "Decisions at p >= 0.5",
                "speaker": "One decision per speaker (mean log-probability of their clips)"}


def number(value: object) -> str:
    """How the page writes a metric: 4 decimals, integers as they are, "–" for undefined."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return escape(str(value))
    return str(value) if isinstance(value, int) else f"{value:.4f}"


def table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    """An HTML table of already-escaped cells."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(cells) + "</tr>" for cells in rows)
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>'


def _lookup(config: dict, dotted: str) -> object:
    node: object = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def settings_html(run: RunFiles) -> str:
    """The command-line overrides and the main settings of the tested model's config."""
    parts = ["<h2>Settings</h2>"]
    if run.overrides:
        parts.append("<p>Overrides: <code>" + escape(" ".join(run.overrides)) + "</code></p>")
    rows = []
    for key in SETTINGS:
        try:
            rows.append([f"<td>{key}</td>", f"<td>{escape(str(_lookup(run.config, key)))}</td>"])
        except KeyError:
            continue
    parts.append(table(["setting", "value"], rows) if rows else "<p>No stored config (no checkpoint, no .hydra/).</p>")
    return "\n".join(parts)


def data_html(run: RunFiles) -> str:
    """Rows, speakers or patients, and classes per split (per task in a joint run); exclusions, skips
    and the group check."""
    d = run.data
    if not d.get("rows"):
        return "<h2>Data</h2><p>No data_report.json in this folder.</p>"
    groups = "speakers" if "speakers" in d else "patients"
    splits = list(d["rows"])
    columns = [(task, c) for task in run.tasks for c in task.class_names]

    def count(split: str, task: TaskView, c: str) -> object:
        per_class = d.get("per_class", {}) if task.name is None else d.get("per_class_of_task", {}).get(task.name, {})
        return per_class.get(split, {}).get(c, 0)

    rows = [[f"<td>{s}</td>", f"<td>{d['rows'][s]}</td>", f"<td>{d.get(groups, {}).get(s, '–')}</td>",
             *(f"<td>{count(s, task, c)}</td>" for task, c in columns)] for s in splits]
    header = [escape(c if task.name is None else f"{task.name}: {c}") for task, c in columns]
    facts = [f"<li>{key.replace('_', ' ')}: <code>{escape(str(d[key]))}</code></li>" for key in DATA_FACTS if key in d]
    few = d.get(f"few_{groups}")
    warning = f"<p class='warning'>Warning: {escape(few)}</p>" if few else ""
    return "\n".join(["<h2>Data</h2>", warning, table(["split", "rows", groups, *header], rows),
                      "<ul>" + "".join(facts) + "</ul>"])


def _ci_cell(block: dict, name: str, key: str, unit: str) -> str:
    """The 95% CI cell of metric `name`: "[lo, hi]", "undefined (1 speaker in class m)" where a class
    it needs has a single group, or empty where the metric has none."""
    ci, too_few = block.get(f"{name}_ci95"), block.get("ci_undefined", {}).get(name)
    if ci:
        return f'<td data-key="{key}_ci95">[{number(ci[0])}, {number(ci[1])}]</td>'
    if too_few:
        return f'<td data-key="{key}_ci95">undefined ({escape(why_undefined(too_few, unit))})</td>'
    return "<td></td>"


def _metric_rows(block: dict, prefix: str, unit: str) -> list[list[str]]:
    rows = []
    for name, value in block.items():
        if name.endswith("_ci95") or isinstance(value, dict | list | str):
            continue
        key = f"{prefix}{name}"
        rows.append([f"<td>{escape(name)}</td>", f'<td data-key="{key}">{number(value)}</td>',
                     _ci_cell(block, name, key, unit)])
    return rows


def _note(block: dict, unit: str) -> str:
    """How a table's intervals were drawn, and how many groups each class has."""
    note = escape(str(block.get("ci", "")))
    counts = block.get("groups_per_class")
    if counts:
        per_class = ", ".join(f"{escape(c)} {n}" for c, n in counts.items())
        note += f"{'. ' if note else ''}{unit.capitalize()}s per class: {per_class}."
    return f"<p class='note'>{note}</p>"


def metrics_html(metrics: dict, prefix: str, title: str, level: int = 2, skip: tuple[str, ...] = (),
                 unit: str = "group") -> str:
    """Every scalar of metrics.json under `prefix` with its 95% CI: the prefix's own, then each block
    (threshold, speakers), each with the note saying how its intervals were drawn and the groups
    (`unit`: speaker, patient) of each class; keys under `<prefix>/<one of skip>/` (a joint run's
    tasks, in the headline) are left to their own section."""
    top = {k.removeprefix(f"{prefix}/"): v for k, v in metrics.items()
           if k.startswith(f"{prefix}/") and k.removeprefix(f"{prefix}/").split("/")[0] not in skip}
    h, sub = f"h{level}", f"h{level + 1}"
    parts = [f"<{h}>{escape(title)}</{h}>", "<p>Argmax decisions, one per row (clip or film).</p>",
             table(["metric", "value", "95% CI"], _metric_rows(top, f"{prefix}/", unit)), _note(top, unit)]
    for name, block in top.items():
        if isinstance(block, dict) and name not in REPORT_DICTS:
            block_title = BLOCK_TITLES.get(name, name)
            if name == "at_threshold":  # chosen on validation, or set in the config
                block_title = f"Decisions at the threshold {block.get('threshold_from', 'chosen on validation')}"
            block_unit = "speaker" if name == "speaker" else unit  # the speaker block: one row per speaker
            parts += [f"<{sub}>{escape(block_title)}</{sub}>",
                      table(["metric", "value", "95% CI"], _metric_rows(block, f"{prefix}/{name}/", block_unit)),
                      _note(block, block_unit)]
    return "\n".join(parts)
