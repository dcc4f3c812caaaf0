"""`predict(cfg)`: class probabilities and decisions for new files, prepared exactly as in training."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from tqdm.auto import tqdm

from voxray.checkpoint import build_model, load_run
from voxray.data.voice import AUDIO_SUFFIXES
from voxray.data.xray.layouts import IMAGE_SUFFIXES
from voxray.errors import UserError
from voxray.evaluation.decision import decide

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


def _prepare_one(load: Callable, path: Path) -> tuple[np.ndarray | None, str]:
    try:
        array = load(str(path))
        return (array[0] if isinstance(array, tuple) else array), ""
    except Exception as err:  # noqa: BLE001 - one bad file must not stop the others
        return None, f"{type(err).__name__}: {err}"


def prepare_inputs(files: Sequence[Path], load: Callable, num_workers: int = 0) -> list[tuple[np.ndarray | None, str]]:
    """Each file prepared by the training cache's own loader: (array, "") or (None, error message).

    Args:
        files: input paths.
        load: the DataModule's `loader()` (decode, resample, denoise, trim / decode, letterbox).
        num_workers: preparation processes (0 = in this process).
    """
    prepare = partial(_prepare_one, load)
    if num_workers == 0:
        return [prepare(f) for f in tqdm(files, desc="preparing", unit="file")]
    with ProcessPoolExecutor(max_workers=num_workers) as pool:
        return list(tqdm(pool.map(prepare, files, chunksize=8), total=len(files), desc="preparing", unit="file"))


def predict(cfg: DictConfig) -> pd.DataFrame:
    """Write predictions.csv and predictions.json into the run folder; returns the table.

    One row per input: probabilities per class, the predicted class (for a joint model both per
    task: `p_<task>_<class>`, `predicted_<task>`), and for a screening model the positive-class
    decision at the stored threshold (`decide`: p >= threshold); a file that fails has its `error` set.
    Files are prepared in `cfg.num_workers` processes and classified in batches of `cfg.batch_size`.
    """
    ckpt, run_cfg = load_run(cfg.ckpt_path)
    model = build_model(ckpt, run_cfg).eval()
    device = torch.device(cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(device)
    load = instantiate(run_cfg.data, cache_dir=str(cfg.paths.cache_dir), report_dir=None).loader()
    files = expand_inputs(list(cfg.inputs))
    if not files:
        raise UserError(f"no input files found in {list(cfg.inputs)}; pass audio "
                        f"({', '.join(sorted(AUDIO_SUFFIXES))}) or image files, or folders holding them")
    prepared = prepare_inputs(files, load, cfg.num_workers)
    rows: list[dict] = [{"path": str(path), "error": error} for path, (_, error) in zip(files, prepared)]
    ready = [i for i, (array, _) in enumerate(prepared) if array is not None]
    for start in range(0, len(ready), cfg.batch_size):
        chunk = ready[start : start + cfg.batch_size]
        batch = torch.from_numpy(np.stack([prepared[i][0] for i in chunk])).to(device)
        with torch.inference_mode():
            probs = model.tasks.probs(model(batch)).cpu()  # (B, k)
        for i, p in zip(chunk, probs):
            rows[i].update(_decisions(model, p))
    table = pd.DataFrame(rows)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "predictions.csv", index=False)
    (out / "predictions.json").write_text(json.dumps(rows, indent=2))
    bad = table["error"] != ""
    print(f"{len(table) - bad.sum()} predicted, {bad.sum()} failed; see {out / 'predictions.csv'}")
    return table


def _decisions(model: torch.nn.Module, probs: torch.Tensor) -> dict:
    """Probabilities per class and the predicted class (per task for a joint model); a screening
    model decides at its threshold."""
    if model.tasks.joint:
        row = {}
        for task in model.tasks:
            part = probs[task.columns]
            row.update({f"p_{task.name}_{c}": float(p) for c, p in zip(task.classes, part)})
            row[f"predicted_{task.name}"] = task.classes[int(part.argmax())]
        return row
    row: dict = {f"p_{c}": float(p) for c, p in zip(model.class_names, probs)}
    row["predicted"] = model.class_names[int(probs.argmax())]
    if model.decision:
        positive = model.class_names[model.positive]
        is_positive = bool(decide(probs[model.positive], float(model.threshold)))
        row.update({"threshold": float(model.threshold), f"is_{positive}": is_positive})
        if len(model.class_names) == 2:
            row["predicted"] = positive if is_positive else model.class_names[1 - model.positive]
    return row
