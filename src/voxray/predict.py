"""`predict(cfg)`: class probabilities and decisions for new files, prepared exactly as in training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from voxray.checks import AUDIO_SUFFIXES, UserError
from voxray.data.xray_layouts import IMAGE_SUFFIXES
from voxray.predictor import Predictor

SUFFIXES = AUDIO_SUFFIXES | IMAGE_SUFFIXES


def expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files as given, and the audio/image files inside any folder (recursively, sorted)."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        else:
            files.append(path)  # a missing file becomes an error row, not a crash
    return files


def predict(cfg: DictConfig) -> pd.DataFrame:
    """Write predictions.csv and predictions.json into the run folder; returns the table
    (`Predictor.predict`: one row per input, a file that fails has its `error` set). Files are
    prepared in `cfg.num_workers` processes and classified in batches of `cfg.batch_size`."""
    files = expand_inputs(list(cfg.inputs))
    if not files:
        raise UserError(f"no input files found in {list(cfg.inputs)}; pass audio ({', '.join(sorted(AUDIO_SUFFIXES))}) "
                        "or image files, or folders holding them")
    table = Predictor.from_checkpoint(cfg.ckpt_path, cfg.device).predict(files, cfg.batch_size, cfg.num_workers)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "predictions.csv", index=False)
    (out / "predictions.json").write_text(table.to_json(orient="records", indent=2))  # a failed file's p_*: null
    bad = table["error"] != ""
    print(f"{len(table) - bad.sum()} predicted, {bad.sum()} failed; see {out / 'predictions.csv'}")
    return table
