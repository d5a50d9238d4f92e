"""Sliding-window inference: exact for a voxel-wise predictor, Gaussian weights, padding and batching."""

import pytest
import torch

from zoo_medical.inference import gaussian_importance, sliding_window_inference


def voxelwise(x):
    """A predictor whose output at a voxel depends on that voxel only: windows must not change it."""
    return torch.cat([x.square(), torch.sin(x)], dim=1)


@pytest.mark.parametrize("shape, roi, overlap, sw_batch_size", [
    ((1, 1, 20, 17, 9), (8, 8, 8), 0.25, 4),
    ((2, 1, 20, 17, 9), (8, 6, 4), 0.5, 3),
    ((1, 2, 5, 6, 7), (8, 8, 8), 0.25, 1),  # smaller than the window: padded, then cropped
    ((1, 1, 33, 30), (16, 16), 0.0, 2),
])
def test_voxelwise_predictor_gives_the_whole_volume_result(shape, roi, overlap, sw_batch_size):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = sliding_window_inference(x, roi, voxelwise, overlap=overlap, sw_batch_size=sw_batch_size)
    torch.testing.assert_close(out, voxelwise(x))


def test_windows_are_blended_by_the_gaussian():
    """A predictor that answers each window's index: the blend is the importance-weighted mean of them."""
    calls = []

    def window_id(x):
        calls.append(len(calls))
        return torch.full_like(x, float(len(calls)))

    x = torch.zeros(1, 1, 12)
    out = sliding_window_inference(x, (8,), window_id, overlap=0.5, sw_batch_size=1)  # windows at 0 and 4
    w = gaussian_importance((8,))
    first, second = torch.zeros(12), torch.zeros(12)
    first[:8], second[4:] = w, w
    torch.testing.assert_close(out[0, 0], (1 * first + 2 * second) / (first + second))
    assert len(calls) == 2


def test_gaussian_importance_peaks_in_the_middle():
    w = gaussian_importance((9, 8))
    assert w.max() == 1 and w[4, 3] == w[4, 4] == 1 and w.min() > 0
    torch.testing.assert_close(w, w.flip(0).flip(1))


def test_bad_arguments_are_named():
    x = torch.zeros(1, 1, 8, 8, 8)
    with pytest.raises(ValueError, match="argument 'roi_size'"):
        sliding_window_inference(x, (4, 4), voxelwise)
    with pytest.raises(ValueError, match="argument 'overlap'"):
        sliding_window_inference(x, (4, 4, 4), voxelwise, overlap=1.0)
    with pytest.raises(ValueError, match="argument 'sw_batch_size'"):
        sliding_window_inference(x, (4, 4, 4), voxelwise, sw_batch_size=0)
