"""timm backbones with pretrained weights from the hub or from a local file — never silently random."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import timm
from torch import nn

from voxray.errors import PretrainedWeightsUnavailable
from voxray.models.weights import offline_unless_hub_answers


def create_backbone(
    name: str,
    num_classes: int,
    in_chans: int = 1,
    pretrained: bool = False,
    weights: str | None = None,
    drop_rate: float = 0.0,
) -> nn.Module:
    """A timm model with a `num_classes` head; conv1 adapted to `in_chans` by timm.

    Args:
        name: any `timm.list_models()` name (densenet121, resnet50, efficientnet_b0, ...).
        num_classes: logits of the new head.
        in_chans: 1 for mel or grayscale X-ray images (timm sums the RGB filters of conv1).
        pretrained: load timm's pretrained weights from the Hugging Face hub.
        weights: a local `.safetensors`/`.pth` file instead of the hub (implies pretrained).
        drop_rate: dropout before the head.
    """
    if not timm.is_model(name):  # accepts tagged names such as resnet18.a1_in1k
        raise ValueError(f"unknown timm model {name!r}; see timm.list_models(), e.g. resnet18, densenet121")
    kwargs = dict(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"model.weights={weights} is not a file")
        net = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)
        net.has_pretrained_weights = True
        return _zero_new_head(net, num_classes)
    try:
        with offline_unless_hub_answers() if pretrained else nullcontext():
            net = timm.create_model(name, pretrained=pretrained, **kwargs)
        net.has_pretrained_weights = pretrained  # read by BackboneFreeze
        return _zero_new_head(net, num_classes) if pretrained else net
    except Exception as err:
        if not pretrained:
            raise
        raise PretrainedWeightsUnavailable(
            f"could not fetch pretrained weights for {name!r} ({type(err).__name__}: {err}). "
            f"Offline? Pass a local file with model.net.weights=/path/to/{name}.safetensors, "
            f"or train from scratch with model.net.pretrained=false."
        ) from err


def _zero_new_head(net: nn.Module, num_classes: int) -> nn.Module:
    """Zero the head timm created for pretrained weights, so fine-tuning starts from chance.

    timm keeps the file's head only when `num_classes` is the weights' own (its `load_pretrained`
    rule) and otherwise initialises a new one by the architecture's rule; EfficientNet's and
    MobileNet's draw U(-1/sqrt(num_classes), +) weights, whose logits over pretrained features are
    a confident random guess that small fine-tuning steps barely move. A zero head (as BiT
    fine-tunes) gives every class the same logit, and its gradient is the features themselves.
    """
    head = net.get_classifier()
    if net.pretrained_cfg.get("num_classes") != num_classes and isinstance(head, (nn.Linear, nn.Conv2d)):
        nn.init.zeros_(head.weight)
        if head.bias is not None:
            nn.init.zeros_(head.bias)
    return net
