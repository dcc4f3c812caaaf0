"""Chest X-ray front end: uint8 batches in, normalised crops out; augmentation per example, on device."""

from __future__ import annotations

import math
from collections.abc import Sequence

import timm
import torch
import torch.nn.functional as F
from torch import nn


class XrayFrontEnd(nn.Module):
    """uint8 (B, H, W) -> float (B, C, crop, crop), normalised as the backbone's weights expect.

    Training draws, per image, a mild random resized crop (zoom), a small rotation and translation
    (one `affine_grid` + `grid_sample` for the whole batch) and brightness/contrast jitter; eval takes
    the centre crop. Flips are left out on purpose: the heart is on the left in a chest film.

    Args:
        crop_size: network input side (224).
        crop_fraction: eval centre crop as a fraction of the stored image (0.875, timm's crop_pct).
        mean, std: normalisation; None = the network's own (`adapt_to`, from timm's
            `resolve_model_data_config`). Several values are averaged to one for a one-channel
            network, whose conv1 holds the sum of the RGB filters.
        in_chans: 1, or 3 to repeat the gray channel for a network that keeps RGB filters.
        scale: range of the crop's area fraction in training (0.75, 1.0).
        rotate_deg: max rotation (7).
        translate: max shift as a fraction of the side (0.05).
        brightness, contrast: max relative jitter (0.15, 0.15).
        augment: draw the training augmentation (True); False trains on the eval crop (debug=overfit).
    """

    def __init__(
        self,
        crop_size: int = 224,
        crop_fraction: float = 0.875,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        in_chans: int = 1,
        scale: Sequence[float] = (0.75, 1.0),
        rotate_deg: float = 7.0,
        translate: float = 0.05,
        brightness: float = 0.15,
        contrast: float = 0.15,
        augment: bool = True,
    ) -> None:
        super().__init__()
        if in_chans not in (1, 3):
            raise ValueError(f"in_chans must be 1 or 3, got {in_chans}")
        self.crop_size, self.crop_fraction, self.in_chans = crop_size, crop_fraction, in_chans
        self.scale, self.rotate_deg, self.translate = tuple(scale), rotate_deg, translate
        self.brightness, self.contrast, self.augment = brightness, contrast, augment
        self.register_buffer("mean", torch.zeros(1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.ones(1, 1, 1, 1), persistent=False)
        self._fixed = mean is not None and std is not None
        if self._fixed:
            self._set_norm(mean, std)

    def _set_norm(self, mean: Sequence[float], std: Sequence[float]) -> None:
        mean_t, std_t = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
        if self.in_chans == 1:
            mean_t, std_t = mean_t.mean(0, keepdim=True), std_t.mean(0, keepdim=True)
        elif len(mean_t) == 1:
            mean_t, std_t = mean_t.repeat(3), std_t.repeat(3)
        self.mean, self.std = mean_t.view(1, -1, 1, 1), std_t.view(1, -1, 1, 1)

    def adapt_to(self, net: nn.Module) -> None:
        """Take mean/std from the network's pretrained config, unless given explicitly."""
        if not self._fixed:
            cfg = timm.data.resolve_model_data_config(net)
            self._set_norm(cfg["mean"], cfg["std"])

    def describe(self) -> list[str]:
        """The steps of `forward` in evaluation (the exported graph), from this front end's settings;
        the training augmentation is not among them."""
        mean = [round(v, 4) for v in self.mean.flatten().tolist()]
        std = [round(v, 4) for v in self.std.flatten().tolist()]
        steps = ["uint8 / 255 to float",
                 f"the centre {self.crop_fraction:g} of each side, resampled bilinearly to "
                 f"{self.crop_size}x{self.crop_size}"]
        if self.in_chans == 3:
            steps.append("the gray channel repeated to 3")
        steps.append(f"(x - mean) / std with mean {mean}, std {std}")
        return steps

    def _theta(self, b: int, device: torch.device) -> torch.Tensor:
        """Per-example affine matrices (B, 2, 3) in normalised coordinates."""
        def uniform(lo: float, hi: float) -> torch.Tensor:
            return torch.empty(b, device=device).uniform_(lo, hi)

        if self.training and self.augment:
            zoom = uniform(*self.scale).sqrt() * self.crop_fraction  # side fraction kept
            angle = uniform(-self.rotate_deg, self.rotate_deg) * math.pi / 180
            shift = torch.stack([uniform(-self.translate, self.translate) for _ in range(2)], 1) * 2
        else:
            zoom = torch.full((b,), self.crop_fraction, device=device)
            angle = torch.zeros(b, device=device)
            shift = torch.zeros(b, 2, device=device)
        cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
        return torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, H, W) uint8 -> (B, in_chans, crop_size, crop_size) float32."""
        with torch.autocast(device_type=images.device.type, enabled=False):
            x = images.float().unsqueeze(1) / 255.0  # (B, 1, H, W)
            b = x.shape[0]
            grid = F.affine_grid(self._theta(b, x.device), [b, 1, self.crop_size, self.crop_size], align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            if self.training and self.augment:
                mu = x.mean(dim=(2, 3), keepdim=True)
                c = 1 + (torch.rand(b, 1, 1, 1, device=x.device) * 2 - 1) * self.contrast
                br = (torch.rand(b, 1, 1, 1, device=x.device) * 2 - 1) * self.brightness
                x = ((x - mu) * c + mu * (1 + br)).clamp(0, 1)
            x = x.expand(-1, self.in_chans, -1, -1)
            return (x - self.mean) / self.std
