"""The X-ray experiment end to end on the synthetic Kermany-style set, on CPU, from scratch."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import pytest
import torch

from tests.helpers.config import compose_cfg
from voxray.evaluate import evaluate
from voxray.train import train

# A small backbone on 64-px films; no pretrained weights can be fetched in tests.
FAST = [
    "experiment=xray_pneumonia", "trainer=cpu", "logger=csv", "callbacks.progress_bar=null",
    "model.net.pretrained=false", "model.net.name=resnet10t", "model.optimizer.lr=0.003",
    "data.image_size=64", "model.frontend.crop_size=56", "data.synthetic.n_patients=400",
    "data.val_fraction=0.2", "data.num_workers=2", "model.n_boot=200", "trainer.max_epochs=12",
]


@pytest.mark.slow  # ~7 min on 2 busy cores; tests/reporting/test_gradcam.py covers Grad-CAM in the default run
def test_xray_reaches_auroc_and_sensitivity_then_eval_writes_gradcam(tmp_path: Path) -> None:
    metrics = train(compose_cfg("train", tmp_path / "run", tmp_path / "cache", FAST))
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    at_t = saved["test/at_threshold"]
    print(f"xray: test/auroc={metrics['test/auroc']:.3f} sensitivity@t={at_t['sensitivity']:.3f} "
          f"specificity@t={at_t['specificity']:.3f} t={at_t['threshold']:.3f}")
    assert metrics["test/auroc"] >= 0.90
    assert at_t["sensitivity"] >= 0.90
    assert at_t["sensitivity_ci95"][0] <= at_t["sensitivity"] <= at_t["sensitivity_ci95"][1]
    assert saved["test/at_0.5"]["threshold"] == 0.5
    ckpt_path = Path(saved["checkpoint"])
    ckpt = torch.load(ckpt_path, weights_only=True)
    assert ckpt["voxray"]["threshold"] == pytest.approx(at_t["threshold"])

    cfg = compose_cfg("eval", tmp_path / "eval", tmp_path / "cache",
                      [f"ckpt_path={ckpt_path}", "trainer=cpu", "gradcam=true", "gradcam_per_group=3"])
    result = evaluate(cfg)
    assert result["test/auroc"] == pytest.approx(metrics["test/auroc"], abs=1e-6)
    overlays = list((tmp_path / "eval" / "gradcam").glob("*_*.png"))
    assert overlays and ({p.name.split("_0")[0] for p in overlays}
                         <= {"true_positive", "false_negative", "false_positive"})
    assert any(p.name.startswith("true_positive") for p in overlays)
    image = matplotlib.image.imread(overlays[0])
    assert image.shape[:2] == (56, 56) and image.std() > 0.02
    assert (tmp_path / "eval" / "gradcam" / "overview.png").stat().st_size > 10_000
