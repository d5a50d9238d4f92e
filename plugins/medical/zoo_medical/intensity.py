"""Intensity normalisation before segmentation: z-scores for MR, windowing for CT."""

from __future__ import annotations

import torch


def zscore(volume: torch.Tensor, nonzero: bool = False) -> torch.Tensor:
    """(x - mean) / std, the statistics over every voxel or, with nonzero=True, over the non-zero
    (skull-stripped, foreground) voxels only, background left at 0 (MONAI's NormalizeIntensity)."""
    values = volume[volume != 0] if nonzero else volume
    if values.numel() < 2:
        raise ValueError("argument 'volume' has fewer than 2 voxels to normalise over")
    mean, std = values.double().mean(), values.double().std()
    normalised = ((volume.double() - mean) / (std if std > 0 else 1)).to(volume.dtype)
    return torch.where(volume != 0, normalised, 0.0) if nonzero else normalised


def window(volume: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Clip to [low, high] (e.g. a CT window in Hounsfield units) and scale that range to [0, 1]."""
    if not high > low:
        raise ValueError(f"arguments 'low' and 'high' must satisfy low < high, got {low} and {high}")
    return (volume.clamp(low, high) - low) / (high - low)
