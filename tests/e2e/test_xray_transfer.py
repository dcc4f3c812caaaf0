"""Pretrained weights are worth having: a tiny network pretrained on other synthetic patients, then
fine-tuned by the X-ray experiment's schedule (head alone, then everything), beats the same network
trained from scratch on the same batches.

What this guards is the way from a weights file to a fine-tuned model (loading, the new head, the
input normalisation, BatchNorm while frozen, the learning rates): a step there that discards what
the weights know leaves the fine-tuned model no better than the one from scratch.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tests.helpers.config import XRAY_FAST, compose_cfg
from voxray.train import train

# 48-px films: at 32 px the synthetic opacities are too faint for a few epochs to learn them
FILMS = [*XRAY_FAST, "data.synthetic.size=48", "data.image_size=48", "model.frontend.crop_size=42",
         "data.synthetic.n_patients=300"]


def pretrain(tmp: Path) -> Path:
    """test_resnet trained from scratch on the films of another corpus (other patients), its last
    epoch saved as a plain timm state dict, as a downloaded weights file would be."""
    run = tmp / "pretrain"
    train(compose_cfg("train", run, tmp / "cache",
                      [*FILMS, "model.net.pretrained=false", "data.synthetic.seed=1", "data.val_fraction=0.1",
                       "model.optimizer.lr=0.003", "model.scheduler=null",
                       "model.net.drop_rate=0", "trainer.max_epochs=5", "test=false"]))
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    path = tmp / "pretrained.pth"
    torch.save({k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")}, path)
    return path


def test_a_pretrained_xray_model_beats_the_same_network_from_scratch(tmp_path: Path) -> None:
    weights = pretrain(tmp_path)
    scores = {}
    for name, start in (("pretrained", f"model.net.weights={weights}"), ("scratch", "model.net.pretrained=false")):
        # a few batches of training, a test split of some 70 films
        train(compose_cfg("train", tmp_path / name, tmp_path / "cache",
                          [*FILMS, start, "+trainer.limit_train_batches=4", "trainer.max_epochs=2"]))
        scores[name] = json.loads((tmp_path / name / "metrics.json").read_text())["test/auroc"]
    print(f"test/auroc: {scores}")
    assert scores["pretrained"] >= 0.75 and scores["pretrained"] >= scores["scratch"] + 0.15, scores
