"""zoo-medical: U-Net 2D/3D shapes, input contract, and agreement between backends in float64."""

import pytest
import torch

import zoo
from zoo.ops import backend


@pytest.mark.parametrize("name, shape", [("unet2d", (1, 1, 32, 48)), ("unet3d", (1, 1, 8, 16, 8))])
def test_segmentation_logits_keep_the_spatial_shape(name, shape):
    model = zoo.load(name, out_channels=3, channels=(4, 8)).double()
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        with backend("ext"):
            ours = model(x)
        with backend("torch"):
            reference = model(x)
    assert ours.shape == (1, 3) + shape[2:]
    torch.testing.assert_close(ours, reference, atol=1e-12, rtol=1e-10)


def test_input_contract_errors():
    with pytest.raises(ValueError, match="argument 'spatial_dims'"):
        zoo.load("unet3d", spatial_dims=1)
    with pytest.raises(ValueError, match="must be divisible by 4"):
        zoo.load("unet2d")(torch.randn(1, 1, 30, 32))
