"""The input preprocessing a model's weights expect, declared on its ModelSpec.

torchvision's and timm's classifiers were trained on images resized (short side),
center-cropped and normalised with fixed statistics; feeding them anything else
changes the logits without an error. `zoo.transforms(name)` returns the entry's
Preprocessing, a callable on image tensors, so it needs no torchvision.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Preprocessing:
    """Resize the short side to `resize`, center-crop `crop` x `crop`, scale to [0, 1], normalise."""

    resize: int
    crop: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(C, H, W) or (N, C, H, W) images, uint8 or float in [0, 1] -> float (N or none, C, crop, crop)."""
        if images.dim() not in (3, 4):
            raise ValueError(f"argument 'images' must be (C, H, W) or (N, C, H, W), got shape {tuple(images.shape)}")
        if images.shape[-3] != len(self.mean):
            raise ValueError(f"argument 'images' must have {len(self.mean)} channels, got {images.shape[-3]}")
        batched = images.dim() == 4
        x = images if batched else images.unsqueeze(0)
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        h, w = x.shape[-2:]
        # torchvision's sizes and offsets exactly: the long side truncated, crop offsets rounded.
        size = (self.resize, int(self.resize * w / h)) if h <= w else (int(self.resize * h / w), self.resize)
        if min(size) < self.crop:
            raise ValueError(f"preprocessing: 'crop' {self.crop} exceeds the resized image {size}")
        x = F.interpolate(x, size=size, mode=self.interpolation, antialias=True, align_corners=False)
        top, left = round((size[0] - self.crop) / 2), round((size[1] - self.crop) / 2)
        x = x[..., top:top + self.crop, left:left + self.crop]
        mean = torch.tensor(self.mean, dtype=x.dtype).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(-1, 1, 1)
        x = (x - mean) / std
        return x if batched else x.squeeze(0)
