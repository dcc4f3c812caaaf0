"""`export(cfg)`: the whole inference path (front end + network) as an ONNX graph, checked by onnxruntime."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from voxray.checkpoint import build_data, build_model, load_run
from voxray.errors import UserError

FORMATS = ("onnx",)


def export(cfg: DictConfig) -> Path:
    """Write `<output_dir>/model.onnx` (raw batch -> logits) and `model.json` (classes, threshold,
    input spec); verify onnxruntime against PyTorch on a random batch before returning the path.

    A joint model's graph has one output, its tasks' logits side by side; model.json's `tasks`
    gives each task's classes and its `[start, stop)` columns, to be softmaxed separately."""
    if cfg.format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {cfg.format!r}")
    ckpt, run_cfg = load_run(cfg.ckpt_path)
    model = build_model(ckpt, run_cfg).eval()
    unsupported = getattr(model.net, "onnx_unsupported", None)  # a network that knows it cannot be exported
    if unsupported:
        raise UserError(f"cannot export {cfg.ckpt_path} to ONNX: {unsupported}")
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    datamodule = build_data(run_cfg.data)  # describes its own inputs and their preparation
    x = datamodule.example_input()
    path = out / "model.onnx"
    for name in ("onnxscript", "onnx_ir"):  # the ONNX optimiser logs every rewrite it makes at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    # the dynamo exporter handles torch.stft, so the log-mel front end travels inside the graph
    torch.onnx.export(
        model, (x,), str(path), input_names=["input"], output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},), dynamo=True,
        external_data=False,  # one self-contained file (the weights are far below protobuf's 2 GB)
    )
    max_diff = check_onnx(model, path, datamodule.example_input(batch=3))
    meta = {
        "input": {"dtype": str(x.dtype).removeprefix("torch."), "shape": ["batch", *x.shape[1:]]},
        # what a caller does to a file before the graph, and what the graph then does itself
        "preparation": {**datamodule.preparation(), "in_graph": graph_steps(model)},
        # what voxray.predict.file_loader needs to prepare a file as training did (examples/onnx_predict.py)
        "data": {k: v for k, v in OmegaConf.to_container(run_cfg.data, resolve=True).items()
                 if k not in ("root", "cache_dir", "report_dir")},
        "class_names": model.class_names,
        "threshold": float(model.threshold) if model.decision else None,
        "positive_class": model.class_names[model.positive] if model.decision else None,
        "decision_rule": _decision_rule(model),
        "onnxruntime_max_abs_diff": max_diff,
        "checkpoint": str(cfg.ckpt_path),
    }
    if model.tasks.joint:
        meta["tasks"] = {t.name: {"classes": t.classes, "logits": [t.columns.start, t.columns.stop]}
                         for t in model.tasks}
    (out / "model.json").write_text(json.dumps(meta, indent=2))
    print(f"exported {path} (onnxruntime vs PyTorch max |diff| {max_diff:.2e})")
    return path


def graph_steps(model: torch.nn.Module) -> list[str]:
    """What the exported graph computes from its input, step by step: the front end's own description
    (`describe()`, from its configured modules), then the network."""
    return [*model.frontend.describe(), f"the network ({type(model.net).__name__}) to logits"]


def _decision_rule(model: torch.nn.Module) -> str:
    if model.decision:
        return "positive when softmax(logits)[positive_class] >= threshold"
    if model.tasks.joint:
        return "per task: argmax of logits[:, start:stop] (softmax over those columns for probabilities)"
    return "argmax"


def check_onnx(model: torch.nn.Module, path: Path, x: torch.Tensor, atol: float = 1e-3) -> float:
    """Run the ONNX file in onnxruntime on `x` (another batch size than exported); raise if the
    logits differ from PyTorch's by more than atol."""
    import onnxruntime as ort

    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    with torch.inference_mode():
        want = model(x).float().numpy()
    diff = float(np.abs(got - want).max())
    if diff > atol:
        raise RuntimeError(f"ONNX export differs from PyTorch by {diff:.3g} (> {atol})")
    return diff
