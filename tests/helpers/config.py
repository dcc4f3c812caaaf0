"""Compose the real Hydra config for tests, with every path under a temporary folder."""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[2]
CONF = str(ROOT / "conf")


def compose_cfg(name: str, out_dir: Path, cache_dir: Path, overrides: list[str]) -> DictConfig:
    """The config `python <name>.py <overrides>` would get, writing into out_dir / cache_dir."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(out_dir)
        cfg.paths.cache_dir = str(cache_dir)
    HydraConfig.instance().set_config(cfg)  # resolves ${hydra:runtime.output_dir}
    with open_dict(cfg):
        del cfg["hydra"]  # as in a real run: the job's config has no hydra node
    out_dir.mkdir(parents=True, exist_ok=True)
    return cfg


# The voice model in seconds: a narrow CNN on 32 mel bands, no denoising, in this process, on CPU.
VOICE_TINY = ["trainer=cpu", "logger=csv", "callbacks.progress_bar=null", "data.num_workers=0",
              "data.clean.denoise=false", "model.net.channels=[4,8]", "model.frontend.logmel.n_mels=32",
              "data.batch_size=8"]

# The X-ray experiment in seconds: a tiny timm model with 'pretrained' weights the test saves
# itself (so the freeze schedule is active), 32-px films, a small synthetic set.
XRAY_FAST = ["experiment=xray_pneumonia", "trainer=cpu", "logger=csv", "callbacks.progress_bar=null",
             "model.net.name=test_resnet", "data.image_size=32", "model.frontend.crop_size=28",
             "data.synthetic.n_patients=40", "data.synthetic.size=64", "data.val_fraction=0.3",
             "data.batch_size=16", "data.num_workers=0", "model.n_boot=20",
             "callbacks.backbone_freeze.unfreeze_at_epoch=1"]


def pretrained_file(folder: Path) -> Path:
    """A 'pretrained' test_resnet state dict saved by the test (no hub in tests)."""
    path = folder / "test_resnet.pth"
    torch.manual_seed(0)
    torch.save(timm.create_model("test_resnet").state_dict(), path)
    return path


# Small and quick: 160 speakers with 2-4 clips each (enough speakers per age group in the test
# split), a narrower CNN, 40 mel bands; same code paths as the defaults.
VOICE_FAST = [
    "trainer=cpu",
    "logger=csv",
    "callbacks.progress_bar=null",
    "data.synthetic.n_speakers=160",
    "data.synthetic.clips_per_speaker=[2,4]",
    "data.num_workers=2",
    "data.batch_size=32",
    "model.frontend.logmel.n_mels=40",
    "model.net.channels=[8,16,32,64]",
]

# experiment=voice_age_gender in seconds, on `voices.make_joint_corpus`; TASKS: its class names per task
JOINT = ["experiment=voice_age_gender", *VOICE_TINY, "trainer.max_epochs=2", "data.val_fraction=0.25",
         "data.test_fraction=0.25", "model.n_boot=50"]
TASKS = {"age": ["teens", "twenties", "thirties", "fourties", "fifties", "sixties+"], "gender": ["female", "male"]}


def compose_train(overrides: list[str]) -> DictConfig:
    """The train config as train.py composes it from these overrides (no run folder)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=overrides)
