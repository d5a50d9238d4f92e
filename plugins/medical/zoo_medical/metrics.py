"""Segmentation metrics: Dice overlap and the (percentile) Hausdorff distance between surfaces, in mm.

Conventions (MONAI's where it has one): two empty masks have Dice 1 and
Hausdorff 0; one empty and one not have Dice 0 and Hausdorff inf. A surface
voxel is a foreground voxel with a background neighbour (faces, edges and
corners), the volume's border counting as background.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def _check_masks(prediction: torch.Tensor, target: torch.Tensor) -> None:
    if prediction.shape != target.shape:
        raise ValueError(f"arguments 'prediction' and 'target' must have one shape, got {tuple(prediction.shape)} "
                         f"and {tuple(target.shape)}")
    if not 1 <= prediction.dim() <= 3:
        raise ValueError(f"arguments 'prediction' and 'target' must be 1-D to 3-D masks, got {prediction.dim()}-D")


def dice(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """2 |P and T| / (|P| + |T|) of two binary masks (any non-zero voxel is foreground)."""
    _check_masks(prediction, target)
    p, t = prediction != 0, target != 0
    total = p.sum() + t.sum()
    return 1.0 if total == 0 else (2 * (p & t).sum() / total).item()


def surface(mask: torch.Tensor) -> torch.Tensor:
    """The foreground voxels of a binary mask that touch background (or the border)."""
    background = F.pad((mask == 0).float()[None, None], [1, 1] * mask.dim(), value=1.0)
    near_background = _MAX_POOL[mask.dim()](background, 3, stride=1)[0, 0] > 0
    return (mask != 0) & near_background


def _nearest_distances(points: torch.Tensor, others: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    return torch.cat([torch.cdist(points[i:i + chunk], others).min(1).values for i in range(0, len(points), chunk)])


def hausdorff(prediction: torch.Tensor, target: torch.Tensor, spacing: Sequence[float] | None = None,
              percentile: float = 100.0) -> float:
    """The larger of the two directed surface distances' `percentile` (100: Hausdorff, 95: HD95), in the
    units of `spacing` (voxel sizes per axis, e.g. Volume.spacing; voxels if not given)."""
    _check_masks(prediction, target)
    if not 0 < percentile <= 100:
        raise ValueError(f"argument 'percentile' must be in (0, 100], got {percentile}")
    spacing = torch.ones(prediction.dim(), dtype=torch.float64) if spacing is None else torch.tensor(
        spacing, dtype=torch.float64)
    if spacing.shape != (prediction.dim(),):
        raise ValueError(f"argument 'spacing' must give {prediction.dim()} sizes, got {spacing.tolist()}")
    p, t = surface(prediction), surface(target)
    if not p.any() or not t.any():
        return 0.0 if not p.any() and not t.any() else float("inf")
    p_points, t_points = p.nonzero().double() * spacing, t.nonzero().double() * spacing
    directed = [_nearest_distances(p_points, t_points), _nearest_distances(t_points, p_points)]
    return max(torch.quantile(d, percentile / 100).item() for d in directed)
