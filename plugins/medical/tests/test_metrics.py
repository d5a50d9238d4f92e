"""Dice and Hausdorff on hand-made masks, and Hausdorff against scipy's on random shapes."""

import math

import pytest
import torch

from zoo_medical.intensity import window, zscore
from zoo_medical.metrics import dice, hausdorff, surface


def cube(lo, hi, size=12):
    mask = torch.zeros(size, size, size, dtype=torch.bool)
    mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = True
    return mask


def test_dice_on_hand_made_masks():
    a, b = cube((0, 0, 0), (4, 4, 4)), cube((2, 0, 0), (6, 4, 4))  # 64 voxels each, 32 shared
    assert dice(a, b) == pytest.approx(2 * 32 / 128)
    assert dice(a, a) == 1.0 and dice(a, ~a) == 0.0
    empty = torch.zeros_like(a)
    assert dice(empty, empty) == 1.0 and dice(a, empty) == 0.0


def test_hausdorff_on_hand_made_masks():
    one, other = torch.zeros(5, 5, 8, dtype=torch.bool), torch.zeros(5, 5, 8, dtype=torch.bool)
    one[1, 1, 1], other[1, 1, 4] = True, True
    assert hausdorff(one, other) == pytest.approx(3.0)
    assert hausdorff(one, other, spacing=(1.0, 1.0, 2.0)) == pytest.approx(6.0)
    far = cube((0, 0, 0), (3, 3, 3))
    far_plus = far.clone()
    far_plus[10, 10, 10] = True  # one stray voxel, sqrt(3 * 8^2) from the cube's corner (2, 2, 2)
    assert hausdorff(far, far_plus) == pytest.approx(8 * math.sqrt(3))
    assert hausdorff(far, far_plus, percentile=50) == 0.0  # every other surface voxel coincides
    empty = torch.zeros_like(far)
    assert hausdorff(empty, empty) == 0.0 and hausdorff(far, empty) == math.inf


def test_surface_keeps_only_voxels_touching_background():
    s = surface(cube((2, 2, 2), (7, 7, 7)))
    assert s.sum() == 5**3 - 3**3 and not s[3:6, 3:6, 3:6].any()
    full = surface(torch.ones(3, 3, 3))  # the border counts as background: all but the centre is surface
    assert full.sum() == 26 and not full[1, 1, 1]


def test_hausdorff_matches_scipy_on_random_shapes():
    ndimage = pytest.importorskip("scipy.ndimage", reason="scipy is the oracle (zoo-medical[test])")
    from scipy.spatial.distance import directed_hausdorff

    g = torch.Generator().manual_seed(0)
    spacing = (0.7, 1.1, 2.0)
    for _ in range(5):
        a = torch.rand(10, 12, 9, generator=g) > 0.7
        b = torch.rand(10, 12, 9, generator=g) > 0.8
        points = []
        for mask in (a.numpy(), b.numpy()):  # scipy's own surface: erosion with full connectivity
            eroded = ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(3, 3), border_value=0)
            points.append((mask & ~eroded).nonzero())
        pa, pb = (torch.tensor(list(zip(*p)), dtype=torch.float64) * torch.tensor(spacing) for p in points)
        expected = max(directed_hausdorff(pa, pb)[0], directed_hausdorff(pb, pa)[0])
        assert hausdorff(a, b, spacing=spacing) == pytest.approx(expected)


def test_intensity_normalisation():
    x = torch.tensor([[0.0, 2.0], [4.0, 6.0]])
    torch.testing.assert_close(zscore(x), (x - 3) / torch.tensor([0.0, 2, 4, 6]).std())
    nonzero = zscore(x, nonzero=True)
    assert nonzero[0, 0] == 0 and nonzero[x != 0].mean().abs() < 1e-6
    torch.testing.assert_close(window(torch.tensor([-2000.0, -160.0, 40.0, 240.0, 3000.0]), -160, 240),
                               torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))


def test_bad_metric_arguments_are_named():
    with pytest.raises(ValueError, match="arguments 'prediction' and 'target' must have one shape"):
        dice(torch.zeros(3, 3), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="argument 'spacing'"):
        hausdorff(torch.ones(3, 3), torch.ones(3, 3), spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="argument 'percentile'"):
        hausdorff(torch.ones(3, 3), torch.ones(3, 3), percentile=0)
    with pytest.raises(ValueError, match="low < high"):
        window(torch.zeros(2), 5, 5)
