"""A Hydra callback that summarises a multirun: one CSV row per job and the best job's config."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def summarise(sweep_dir: str | Path, metric: str, mode: str = "max") -> pd.DataFrame:
    """Collect every job folder of a sweep (its overrides and train_metrics.json) into a table;
    write `summary.csv`, `best_config.yaml` (the best job's overrides and composed config) and
    `summary.html` (each job's metric and a link to its report.html)."""
    # imported here: Hydra imports this module at every launch, before a mistake in the command is checked
    import pandas as pd

    from voxray.html_report.sweep_page import write_summary_page

    sweep_dir = Path(sweep_dir)
    rows: list[dict[str, Any]] = []
    for job in sorted((p for p in sweep_dir.iterdir() if (p / ".hydra" / "overrides.yaml").exists()),
                      key=lambda p: int(p.name) if p.name.isdigit() else p.name):
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) or []
        metrics_file = job / "train_metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        rows.append({"job": job.name, "status": "done" if metrics else "failed or unfinished",
                     metric: metrics.get(metric), "overrides": " ".join(overrides),
                     **{k: v for k, v in metrics.items() if k != metric}})
    table = pd.DataFrame(rows)
    if table.empty:
        raise ValueError(f"no job folders with .hydra/overrides.yaml in {sweep_dir}")
    table.to_csv(sweep_dir / "summary.csv", index=False)
    scored = table.dropna(subset=[metric])
    best_job = None
    if not scored.empty:
        best = scored.loc[scored[metric].idxmax() if mode == "max" else scored[metric].idxmin()]
        best_job = str(best["job"])
        config = yaml.safe_load((sweep_dir / best_job / ".hydra" / "config.yaml").read_text())
        (sweep_dir / "best_config.yaml").write_text(yaml.safe_dump(
            {"job": best_job, metric: float(best[metric]), "overrides": best["overrides"].split(),
             "config": config}, sort_keys=False))
    write_summary_page(sweep_dir, table, metric, best_job)
    return table


class MultirunSummary(Callback):
    """Writes the sweep summary when a multirun ends (grid or Optuna; the sweeper's own files stay)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        metric = config.get("optimized_metric")
        if not metric:
            return
        table = summarise(config.hydra.sweep.dir, metric)
        log.info(f"sweep summary of {len(table)} jobs in {Path(config.hydra.sweep.dir) / 'summary.csv'}")
