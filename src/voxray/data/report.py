"""The data report a DataModule writes into the run folder: rows per split, skips, the cap, checks."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from voxray.data.store.planned import PlannedRows, skipped_files
from voxray.data.summary import group_check, split_report

log = logging.getLogger(__name__)


def write_data_report(plan: PlannedRows, table: pd.DataFrame, tasks: list[str] | None, cap: int | None,
                      capped: pd.DataFrame, report_dir: Path | None, rank_zero: bool) -> dict:
    """The report of the served rows `table` (the train rows the cap removed: `capped`); logged, and
    written with the skip list into `report_dir` by the rank-zero process."""
    report = {**plan.report, "skipped_files": plan.skipped, "skipped_list": str(plan.folder / "skipped.csv"),
              **split_report(table, tasks, plan.group_name)}
    capped_note = ""
    if cap is not None:
        report["cap"] = {"max_clips_per_speaker": cap, "train_rows_removed": len(capped),
                         f"{plan.group_name}s_capped": capped["group"].nunique()}
        capped_note = (f"; the cap of {cap} per {plan.group_name} removed "
                       f"{len(capped)} train rows of {capped['group'].nunique()} {plan.group_name}s")
    rank_zero_info(
        f"data: {report['rows']} clips/images per split; {plan.skipped} files skipped "
        f"(see skipped.csv); excluded by label: {plan.report.get('excluded', {})}{capped_note}"
    )
    report["group_check"] = group_check(table["group"], plan.group_name)
    if report["group_check"].startswith("vacuous"):
        rank_zero_warn(f"{plan.group_name}-disjoint split: {report['group_check']}")
    if f"few_{plan.group_name}s" in report and rank_zero:
        log.warning(report[f"few_{plan.group_name}s"])  # in <run>/train.log too
    if report_dir is not None and rank_zero:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "data_report.json").write_text(json.dumps(report, indent=2, default=int))
        if (plan.folder / "skipped.csv").exists():  # a streamed run's node may hold no store
            skipped_files(plan).to_csv(report_dir / "skipped.csv", index=False)  # under this run's data root
    return report
