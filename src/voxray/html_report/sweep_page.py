"""`<sweep>/summary.html`: a multirun's trials, each with its metric and a link to its report."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pandas as pd

from voxray.html_report.shell import REPORT, document
from voxray.html_report.tables import number, table

FILE = "summary.html"


def write_summary_page(sweep_dir: str | Path, summary: pd.DataFrame, metric: str, best_job: str | None) -> Path:
    """One row per job of `summary` (sweep.summarise's table): job, status, metric, the overrides
    that set it apart (those all jobs share are listed once above) and a relative link to
    `<job>/report.html` where the job wrote one; the best job's metric in bold."""
    sweep_dir = Path(sweep_dir)
    jobs = summary.to_dict("records")
    shared = set.intersection(*(set(str(job["overrides"]).split()) for job in jobs))
    common = " ".join(o for o in str(jobs[0]["overrides"]).split() if o in shared)  # in the command's order
    rows = []
    for job in jobs:
        name, value = str(job["job"]), job[metric]
        shown = number(None if pd.isna(value) else float(value))
        if name == best_job:
            shown = f"<b>{shown}</b>"
        own = " ".join(o for o in str(job["overrides"]).split() if o not in shared)
        report = sweep_dir / name / REPORT
        link = f'<a href="{escape(name)}/{REPORT}">{escape(name)}/{REPORT}</a>' if report.is_file() else "no report"
        rows.append([f"<td>{escape(name)}</td>", f"<td>{escape(str(job['status']))}</td>",
                     f'<td data-key="{escape(name)}">{shown}</td>', f"<td><code>{escape(own)}</code></td>",
                     f"<td>{link}</td>"])
    best = f"best job: <b>{escape(best_job)}</b> (best_config.yaml)" if best_job else "no job finished with a score"
    body = (f"<h1>Sweep summary: {escape(sweep_dir.name)}</h1><p>{len(summary)} jobs, compared by "
            f"<code>{escape(metric)}</code> at each job's best epoch; {best}. The table is summary.csv.</p>"
            + (f"<p>Every job: <code>{escape(common)}</code></p>" if common else "")
            + table(["job", "status", escape(metric), "its own overrides", "report"], rows))
    path = sweep_dir / FILE
    path.write_text(document(f"{sweep_dir.name} sweep", body))
    return path
