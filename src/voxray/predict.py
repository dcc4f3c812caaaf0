"""`predict(cfg)`: class probabilities and decisions for new files, prepared exactly as in training."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from tqdm.auto import tqdm

from voxray.evaluate import build_model, load_run

SUFFIXES = {".mp3", ".wav", ".flac", ".ogg", ".opus", ".m4a", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".bmp", ".dcm", ".dicom"}


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
    """Write predictions.csv and predictions.json into the run folder; returns the table.

    One row per input: probabilities per class, the predicted class, and for a screening model
    the positive-class decision at the stored threshold; a file that fails has its `error` set.
    """
    ckpt, run_cfg = load_run(cfg.ckpt_path)
    model = build_model(ckpt, run_cfg).eval()
    device = torch.device(cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(device)
    load = instantiate(run_cfg.data, cache_dir=str(cfg.paths.cache_dir), report_dir=None).loader()
    files = expand_inputs(list(cfg.inputs))
    if not files:
        raise ValueError(f"no input files found in {list(cfg.inputs)}")
    rows = []
    for path in tqdm(files, desc="predicting", unit="file"):
        row: dict = {"path": str(path), "error": ""}
        try:
            array = load(str(path))
            array = array[0] if isinstance(array, tuple) else array
            with torch.inference_mode():
                probs = model(torch.from_numpy(array).unsqueeze(0).to(device)).float().softmax(1)[0].cpu()
            row.update({f"p_{c}": float(p) for c, p in zip(model.class_names, probs)})
            row["predicted"] = model.class_names[int(probs.argmax())]
            if model.decision:  # a screening model decides at its validation-chosen threshold
                positive = model.class_names[model.positive]
                is_positive = bool(probs[model.positive] > model.threshold)
                row.update({"threshold": float(model.threshold), f"is_{positive}": is_positive})
                if len(model.class_names) == 2:
                    row["predicted"] = positive if is_positive else model.class_names[1 - model.positive]
        except Exception as err:  # noqa: BLE001 - one bad file must not stop the others
            row["error"] = f"{type(err).__name__}: {err}"
        rows.append(row)
    table = pd.DataFrame(rows)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "predictions.csv", index=False)
    (out / "predictions.json").write_text(json.dumps(rows, indent=2))
    bad = table["error"] != ""
    print(f"{len(table) - bad.sum()} predicted, {bad.sum()} failed; see {out / 'predictions.csv'}")
    return table
