"""The trainer's precision, chosen where the run starts: `precision: ${voxray.precision:${.accelerator}}`.

Registered as an OmegaConf resolver when `voxray` is imported, so `python train.py experiment=voice_mel`
trains in bf16 autocast on a recent GPU and in fp32 on a CPU with no flag. torch is imported only when
the value is read (at `instantiate`), which keeps `--help` and the early checks fast.
"""

from __future__ import annotations

from omegaconf import OmegaConf

RESOLVER = "voxray.precision"


def best_precision(accelerator: str = "auto") -> str:
    """Lightning's precision for `accelerator` on this machine.

    "bf16-mixed" on a CUDA GPU with native bf16 (Ampere and newer), "16-mixed" on an older CUDA GPU
    (bf16 there is emulated and slow), "32-true" on a CPU or MPS. The front ends stay fp32 inside
    autocast either way (see `voxray.features.logmel`).

    Args:
        accelerator: the trainer's `accelerator` ("auto", "gpu", "cuda", "cpu", ...).
    """
    if str(accelerator).lower() == "cpu":
        return "32-true"
    import torch

    if not torch.cuda.is_available():
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported(including_emulation=False) else "16-mixed"


if not OmegaConf.has_resolver(RESOLVER):
    OmegaConf.register_new_resolver(RESOLVER, best_precision)
