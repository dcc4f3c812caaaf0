"""Prediction: `Predictor`, a trained checkpoint as a Python object, and `predict(cfg)`, the command
(predictions.csv and predictions.json for files and folders).

    from voxray import Predictor

    predictor = Predictor.from_checkpoint("outputs/train/runs/<time>/checkpoints/best.ckpt")
    table = predictor.predict(["a.mp3", "b.wav"])   # pandas DataFrame, one row per file

Each file is prepared by the checkpoint's own training loader (`file_loader`: decode, resample,
denoise, trim and crop a clip; decode and letterbox a film), so nothing is re-implemented by hand;
a screening model decides with its stored threshold through `decision.decide`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from tqdm.auto import tqdm

from voxray.checkpoint import build_data, build_model, load_run
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


def file_loader(data: Mapping) -> Callable[[str], np.ndarray]:
    """The training data's per-file preparation, `path -> array` (int16 clip or uint8 film).

    Args:
        data: the run's `data` config — a checkpoint's `run_cfg.data`, or the `data` entry of an
            exported `model.json`; its root and cache folder are not used.
    """
    return partial(_array_of, build_data(data).loader())


def _array_of(load: Callable, path: str) -> np.ndarray:
    array = load(str(path))
    return array[0] if isinstance(array, tuple) else array  # a clip comes with its speech duration


def _prepare_one(load: Callable, path: Path) -> tuple[np.ndarray | None, str]:
    try:
        return load(str(path)), ""
    except Exception as err:  # noqa: BLE001 - one bad file must not stop the others
        return None, f"{type(err).__name__}: {err}"


def prepare_inputs(files: Sequence[Path], load: Callable, num_workers: int = 0) -> list[tuple[np.ndarray | None, str]]:
    """Each file prepared by `load` (a `file_loader`): (array, "") or (None, error message).

    Args:
        files: input paths.
        load: `path -> array`.
        num_workers: preparation processes (0 = in this process).
    """
    prepare = partial(_prepare_one, load)
    if num_workers == 0:
        return [prepare(f) for f in tqdm(files, desc="preparing", unit="file")]
    with ProcessPoolExecutor(max_workers=num_workers) as pool:
        return list(tqdm(pool.map(prepare, files, chunksize=8), total=len(files), desc="preparing", unit="file"))


class Predictor:
    """A checkpoint's network, its file preparation and its decision rule.

    Args:
        model: the run's LightningModule with its weights (`build_model`).
        load: `path -> array`, the run's `file_loader`.
        device: where the network runs.
    """

    def __init__(self, model: torch.nn.Module, load: Callable[[str], np.ndarray],
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.load = load

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> Predictor:
        """Read a checkpoint train.py wrote (weights_only=True); `device`: auto | cpu | cuda[:i]."""
        ckpt, run_cfg = load_run(path)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        return cls(build_model(ckpt, run_cfg), file_loader(run_cfg.data), device)

    @property
    def columns(self) -> list[str]:
        """The probability columns of `predict`'s table, in the network's output order."""
        if self.model.tasks.joint:
            return [f"p_{t.name}_{c}" for t in self.model.tasks for c in t.classes]
        return [f"p_{c}" for c in self.model.class_names]

    def predict(self, paths: Sequence[str | Path], batch_size: int = 64, num_workers: int = 0) -> pd.DataFrame:
        """One row per path: `path`, `error` ("" when the file was read), the probability per class
        and the predicted class (per task for a joint model: `p_<task>_<class>`, `predicted_<task>`);
        a screening model adds `threshold` and `is_<positive class>` (p >= threshold).

        Args:
            paths: audio or image files; one that cannot be read gets its reason in `error`.
            batch_size: files classified at once (64).
            num_workers: preparation processes (0 = this one).
        """
        files = [Path(p).expanduser() for p in paths]
        prepared = prepare_inputs(files, self.load, num_workers)
        rows: list[dict] = [{"path": str(path), "error": error} for path, (_, error) in zip(files, prepared)]
        ready = [i for i, (array, _) in enumerate(prepared) if array is not None]
        for start in range(0, len(ready), batch_size):
            chunk = ready[start : start + batch_size]
            probs = self.probabilities(np.stack([prepared[i][0] for i in chunk]))
            for i, p in zip(chunk, probs):
                rows[i].update(self.decisions(p))
        return pd.DataFrame(rows)

    def probabilities(self, batch: np.ndarray) -> torch.Tensor:
        """Class probabilities (B, k) of prepared arrays (B, ...), softmaxed per task."""
        with torch.inference_mode():
            return self.model.tasks.probs(self.model(torch.from_numpy(batch).to(self.device))).cpu()

    def decisions(self, probs: torch.Tensor) -> dict:
        """Probabilities per class and the predicted class (per task for a joint model); a
        screening model decides at its threshold."""
        model = self.model
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
