"""`baseline(cfg)`: the classical voice baseline the CNN must beat.

Per-clip features (hand-crafted, or speaker embeddings) -> scaler -> optional PCA -> logistic
regression, searched with speaker-grouped cross-validation on balanced accuracy (= UAR), then
scored once on the datamodule's test split with the CNN's metric names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from sklearn.callback import ProgressBar
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from voxray.evaluation.bootstrap import why_undefined
from voxray.evaluation.metrics import multiclass_report, split_scalars, stage_metrics
from voxray.evaluation.speakers import speaker_report, speaker_uar
from voxray.features.extractors import features_of_rows
from voxray.reporting.metrics_file import write_stage_report
from voxray.reporting.predictions import FILE as PREDICTIONS
from voxray.reporting.predictions import predictions_table

log = logging.getLogger(__name__)

# Data settings that decide which clips land in the test split; equal settings = same split.
SPLIT_KEYS = ("root", "target", "seed", "val_fraction", "test_fraction", "use_official_splits",
              "synthetic", "clean")
_ABSENT = object()  # a setting missing from a saved config, as opposed to one set to null


def score_test(
    probs: np.ndarray, labels: np.ndarray, class_names: Sequence[str], groups: np.ndarray | None = None,
    n_boot: int = 1000,
) -> dict:
    """The CNN's test metrics of class probabilities (n, k) against integer labels (n,): per clip
    `test/uar`, `test/recall/<class>`, `test/confmat`, ... with the speaker-bootstrap 95% CIs
    (`test/uar_ci95`, `test/n_groups`); with `groups` (n,), the speakers, also per speaker
    `test/speaker/uar` and the block `test/speaker` with its CIs, each speaker decided as the CNN
    decides them (`voxray.evaluation.speakers`: the mean log-probability of their clips)."""
    p, y = torch.as_tensor(probs, dtype=torch.float32), torch.as_tensor(labels)
    metrics = stage_metrics(len(class_names), "test")
    metrics.update(p, y)
    scalars, others = split_scalars(metrics.compute(), class_names)
    report = {f"test/{k}": v for k, v in multiclass_report(p, y, groups, class_names, n_boot).items()}
    if groups is not None:
        scalars["test/speaker/uar"] = speaker_uar(p, y, groups)
        report["test/speaker"] = speaker_report(p, y, groups, class_names, n_boot)
    return {**scalars, **others, **report}


def grid_search(cfg: DictConfig, folds: list) -> GridSearchCV:
    """The scaler -> PCA -> classifier pipeline and its grid (`cfg.grid`), over fixed folds."""
    pipeline = Pipeline([("scaler", "passthrough"), ("pca", "passthrough"),
                         ("clf", instantiate(cfg.classifier))])
    grid = instantiate(cfg.grid, _convert_="all")
    search = GridSearchCV(pipeline, grid, scoring="balanced_accuracy", cv=folds, n_jobs=cfg.n_jobs,
                          refit=True, error_score="raise")
    # one bar for the whole search (depth 0): a bar per fit would be hundreds of lines
    return search.set_callbacks(ProgressBar(max_propagation_depth=0))


def baseline(cfg: DictConfig) -> dict:
    """Search the baseline on `cfg.search_splits`, score it on the test split; returns metrics.

    Writes into the run folder: metrics.json, confusion_matrix_test.png and test_predictions.csv
    (as the CNN does),
    cv_results.csv (every grid point), cv_folds.csv (each searched clip's validation fold) and
    comparison.md (this baseline beside the runs in `cfg.cnn_metrics`).
    """
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not cfg.search_splits or not set(cfg.search_splits) <= {"train", "val"}:
        raise ValueError("search_splits must be train, val or both (test is scored once, at the "
                         f"end), got {list(cfg.search_splits)}")
    extract = instantiate(cfg.baseline.features)  # checks its settings before any clip is read
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup()
    table = dm.table
    features = features_of_rows(extract, dm.data, table["row"], table["duration_s"],
                                dm.cache_dir / "features")

    search_mask = table["split"].isin(list(cfg.search_splits)).to_numpy()
    test_mask = (table["split"] == "test").to_numpy()
    labels = table["label"].to_numpy()
    x, y, groups = features[search_mask], labels[search_mask], table["group"][search_mask]
    folds = list(instantiate(cfg.cv).split(x, y, groups))
    search = grid_search(cfg, folds).fit(x, y)
    probs = search.predict_proba(features[test_mask])

    metrics = score_test(probs, labels[test_mask], dm.classes, table["group"][test_mask].to_numpy())
    metrics |= {"cv/uar": float(search.best_score_), "cv/folds": len(folds),
                "cv/best_params": {k: str(v) for k, v in search.best_params_.items()},
                "baseline": cfg.baseline.name, "search_splits": list(cfg.search_splits)}
    write_stage_report(metrics, dm.classes, out_dir, "test", f"baseline: {cfg.baseline.name}")
    predictions_table(table[test_mask], probs, dm.classes, dm.group_name).to_csv(out_dir / PREDICTIONS, index=False)
    pd.DataFrame(search.cv_results_).drop(columns="params").sort_values("rank_test_score").to_csv(
        out_dir / "cv_results.csv", index=False)
    fold_of = np.empty(len(x), dtype=int)
    for k, (_, val) in enumerate(folds):
        fold_of[val] = k
    searched = table.loc[search_mask, ["path", "client_id", "split", "label_name"]]
    searched.assign(fold=fold_of).to_csv(out_dir / "cv_folds.csv", index=False)
    write_comparison(out_dir, metrics, dm.classes, cfg)
    people = f" test/speaker/uar={metrics['test/speaker/uar']:.3f}" if "test/speaker/uar" in metrics else ""
    log.info(f"baseline {cfg.baseline.name}: cv/uar={search.best_score_:.3f} "
             f"test/uar={metrics['test/uar']:.3f}{people} ({search.best_params_}); outputs in {out_dir}")
    return metrics


def write_comparison(out_dir: Path, metrics: dict, class_names: Sequence[str], cfg: DictConfig) -> Path:
    """`comparison.md`: this baseline's test UAR per clip and per speaker beside each run of
    `cfg.cnn_metrics` (metrics.json paths), with whether that run's data settings give the same test split."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    lines = ["| model | clips: test/uar (95% CI) | speakers: test/speaker/uar (95% CI) | test/acc | cv/uar "
             "| same split | metrics |",
             "| --- | --- | --- | --- | --- | --- | --- |",
             f"| baseline: {cfg.baseline.name} | {_uars(metrics)} | {metrics['test/acc']:.3f} "
             f"| {metrics['cv/uar']:.3f} | yes | {out_dir / 'metrics.json'} |"]
    for path in map(Path, cfg.cnn_metrics):
        other = json.loads(path.read_text())
        name = f"baseline: {other['baseline']}" if "baseline" in other else f"CNN: {path.parent.name}"
        cv = f"{other['cv/uar']:.3f}" if "cv/uar" in other else "-"
        lines.append(f"| {name} | {_uars(other)} | {other['test/acc']:.3f} | {cv} "
                     f"| {_same_split(path, other, data, class_names)} | {path} |")
    path = out_dir / "comparison.md"
    intervals = ("95% CIs: percentile bootstrap over speakers, stratified by class; undefined where a "
                 "class has a single speaker.")
    path.write_text(f"# {data['target']}: test split of the same data config\n\n" + "\n".join(lines)
                    + f"\n\n{intervals}\n")
    return path


def _uars(metrics: dict) -> str:
    """The clip and the speaker cell of a run's metrics.json: "0.576 (0.49-0.66) | 0.612 (0.50-0.72)"."""
    people = metrics.get("test/speaker") or {}
    clip = _uar_cell(metrics.get("test/uar"), metrics.get("test/uar_ci95"), metrics.get("test/ci_undefined", {}))
    speaker = _uar_cell(metrics.get("test/speaker/uar", people.get("uar")), people.get("uar_ci95"),
                        people.get("ci_undefined", {}))
    return f"{clip} | {speaker}"


def _uar_cell(uar: float | None, ci: list[float] | None, undefined: dict) -> str:
    """A UAR with its speaker-bootstrap interval, "(CI undefined: 1 speaker in class male)" where a
    class has a single speaker (`undefined`: a report's "ci_undefined"); "-" for a run without it."""
    if uar is None:
        return "-"
    if ci:
        return f"{uar:.3f} ({ci[0]:.2f}-{ci[1]:.2f})"
    too_few = undefined.get("uar")
    return f"{uar:.3f}" + (f" (CI undefined: {why_undefined(too_few, 'speaker')})" if too_few else "")


def _same_split(path: Path, other: dict, data: dict, class_names: Sequence[str]) -> str:
    """"yes", "no: <what differs>" or "unknown" for the run whose metrics.json is `path`."""
    if other.get("class_names") != list(class_names):
        return f"no: classes {other.get('class_names')}"
    config = path.parent / ".hydra" / "config.yaml"
    if not config.exists():  # e.g. an eval run: its data settings live in the checkpoint
        return "unknown"
    run = OmegaConf.load(config)
    saved = {k: _setting(run, f"data.{k}") for k in SPLIT_KEYS}
    differ = [k for k in SPLIT_KEYS if saved[k] is not _ABSENT and saved[k] != data.get(k)]
    return f"no: {', '.join(differ)} differ" if differ else "yes"


def _setting(run: DictConfig, key: str) -> object:
    """A resolved value of a saved run config (`data.seed: ${seed}` -> 42), as plain Python;
    `_ABSENT` when that config has no such key (an older config: not counted as a difference)."""
    value = OmegaConf.select(run, key, default=_ABSENT)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
