"""Classify files with an exported `model.onnx` in onnxruntime; `model.json` beside it says how to
prepare a file (the training loader, through `voxray.predict.file_loader`) and how to decide.

    uv run python export.py ckpt_path=outputs/train/runs/<time>/checkpoints/best.ckpt
    uv run python examples/onnx_predict.py outputs/export/runs/<time>/model.json a.mp3 b.wav
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from voxray.predict import file_loader


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def onnx_predict(model_json: str | Path, files: list[str]) -> list[dict]:
    """One dict per file: the probability per class and the decision `model.json` states."""
    meta = json.loads(Path(model_json).read_text())
    load = file_loader(meta["data"])
    session = ort.InferenceSession(str(Path(model_json).with_name("model.onnx")), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": np.stack([load(f) for f in files])})[0]
    rows = [{"path": f} for f in files]
    for name, task in meta.get("tasks", {"": {"classes": meta["class_names"], "logits": [0, logits.shape[1]]}}).items():
        probs = softmax(logits[:, slice(*task["logits"])])  # a joint model's tasks are softmaxed apart
        prefix = f"p_{name}_" if name else "p_"
        for row, p in zip(rows, probs):
            row.update({prefix + c: float(q) for c, q in zip(task["classes"], p)})
            row[f"predicted_{name}" if name else "predicted"] = task["classes"][int(p.argmax())]
    if meta["threshold"] is not None:  # a screening model: positive when p(positive) >= threshold
        positive = meta["positive_class"]
        classes = meta["class_names"]
        for row in rows:
            row[f"is_{positive}"] = row[f"p_{positive}"] >= meta["threshold"]
            if len(classes) == 2:  # the decision is the prediction
                row["predicted"] = positive if row[f"is_{positive}"] else next(c for c in classes if c != positive)
    return rows


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    for row in onnx_predict(sys.argv[1], sys.argv[2:]):
        print(json.dumps(row))
