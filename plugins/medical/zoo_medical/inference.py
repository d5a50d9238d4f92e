"""Sliding-window inference: segment a volume too large for one pass, window by window.

Overlapping windows are blended with a Gaussian importance map (nnU-Net's and
MONAI's choice), so a voxel's result leans on the windows that see it near
their centre, where the network has the most context. Only `sw_batch_size`
windows are on the model's device at a time; the output is accumulated on
`output_device` (the input's by default), so a volume bigger than GPU memory
can be segmented on the GPU window by window with the result kept in host RAM.
"""

from __future__ import annotations

import itertools
from typing import Callable, Sequence

import torch
import torch.nn.functional as F


def gaussian_importance(roi_size: Sequence[int], sigma_scale: float = 0.125) -> torch.Tensor:
    """A separable Gaussian over the window, sigma = sigma_scale * size per axis, peak 1, no zeros."""
    weights = torch.ones(())
    for size in roi_size:
        axis = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
        weights = weights[..., None] * torch.exp(-0.5 * (axis / (sigma_scale * size)) ** 2)
    weights = weights / weights.max()
    return weights.clamp(min=weights[weights > 0].min().item()).float()


def _starts(size: int, roi: int, overlap: float) -> list[int]:
    step = max(1, int(roi * (1 - overlap)))
    starts = list(range(0, size - roi + 1, step))
    return starts if starts[-1] == size - roi else starts + [size - roi]


def sliding_window_inference(inputs: torch.Tensor, roi_size: Sequence[int], predictor: Callable, *,
                             overlap: float = 0.25, sw_batch_size: int = 4, sigma_scale: float = 0.125,
                             device: torch.device | str | None = None,
                             output_device: torch.device | str | None = None) -> torch.Tensor:
    """predictor applied to `inputs` (N, C, *spatial) window by window, blended: (N, out_C, *spatial).

    Windows of `roi_size` overlap by the fraction `overlap`; an input smaller than
    the window is zero-padded at its far end and the padding cropped off again.
    """
    spatial = inputs.shape[2:]
    roi_size = tuple(int(r) for r in roi_size)
    if len(roi_size) != len(spatial) or min(roi_size) < 1:
        raise ValueError(f"argument 'roi_size' must give {len(spatial)} positive sizes, got {roi_size}")
    if not 0 <= overlap < 1:
        raise ValueError(f"argument 'overlap' must be in [0, 1), got {overlap}")
    if sw_batch_size < 1:
        raise ValueError(f"argument 'sw_batch_size' must be positive, got {sw_batch_size}")
    device = inputs.device if device is None else torch.device(device)
    output_device = inputs.device if output_device is None else torch.device(output_device)
    padding = [max(r - s, 0) for r, s in zip(roi_size, spatial)]
    padded = F.pad(inputs, [p for extra in reversed(padding) for p in (0, extra)]) if any(padding) else inputs
    importance = gaussian_importance(roi_size, sigma_scale)
    windows = list(itertools.product(*(_starts(s, r, overlap) for s, r in zip(padded.shape[2:], roi_size))))
    output = weights = None
    for first in range(0, len(windows), sw_batch_size):
        batch = windows[first:first + sw_batch_size]
        regions = [tuple(slice(s, s + r) for s, r in zip(start, roi_size)) for start in batch]
        crops = torch.cat([padded[(..., *region)] for region in regions]).to(device)
        with torch.no_grad():
            predictions = predictor(crops).to(output_device)
        if output is None:
            n = inputs.shape[0]
            output = torch.zeros((n, predictions.shape[1], *padded.shape[2:]), dtype=predictions.dtype,
                                 device=output_device)
            weights = torch.zeros(padded.shape[2:], dtype=predictions.dtype, device=output_device)
            importance = importance.to(output_device, predictions.dtype)
        for index, region in enumerate(regions):
            chunk = predictions[index * inputs.shape[0]:(index + 1) * inputs.shape[0]]
            output[(..., *region)] += chunk * importance
            weights[region] += importance
    output = output / weights
    return output[(..., *(slice(0, s) for s in spatial))] if any(padding) else output

