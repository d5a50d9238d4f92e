"""zoo-medical's models: shapes, input contract, and agreement between backends in float64."""

import pytest
import torch

import zoo
from zoo.ops import backend


@pytest.mark.parametrize("name, shape, options", [
    ("unet2d", (1, 1, 32, 48), {}),
    ("unet3d", (1, 1, 8, 16, 8), {}),
    ("unet2d", (1, 1, 16, 8), {"residual": True}),
    ("unet3d", (1, 1, 8, 8, 8), {"residual": True, "attention": True}),
    ("attention_unet3d", (1, 1, 8, 16, 8), {}),
])
def test_segmentation_logits_keep_the_spatial_shape(name, shape, options):
    model = zoo.load(name, out_channels=3, channels=(4, 8), **options).double()
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


def test_attention_gates_weight_each_skip_voxel_between_0_and_1():
    model = zoo.load("attention_unet3d", channels=(4, 8, 16))
    gate, skip = torch.randn(1, 4, 4, 4, 4), torch.randn(1, 4, 4, 4, 4)
    with torch.no_grad():
        gated = model.gates[1](gate, skip)
    weights = gated / skip
    assert ((weights > 0) & (weights < 1)).all()
    torch.testing.assert_close(weights, weights[:, :1].expand_as(weights))  # one weight per voxel, all channels


def test_residual_units_add_a_shortcut():
    model = zoo.load("unet3d", channels=(4, 8), residual=True)
    block = model.down[0]
    x = torch.randn(1, 1, 4, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(block(x), block.body(x) + block.shortcut(x))
    assert isinstance(model.merge[0].shortcut, torch.nn.Module) and model.merge[0].shortcut.kernel_size == (1, 1, 1)


@pytest.mark.parametrize("name", ["resnet3d_10", "resnet3d_18"])
def test_resnet3d_classifies_volumes_on_both_backends(name):
    model = zoo.load(name, num_classes=3, widths=(4, 8, 8, 16)).double()
    x = torch.randn(2, 1, 16, 24, 16, dtype=torch.float64)
    with torch.no_grad():
        with backend("ext"):
            ours = model(x)
        with backend("torch"):
            reference = model(x)
        assert ours.shape == (2, 3)
        torch.testing.assert_close(ours, reference, atol=1e-12, rtol=1e-10)
        assert model.forward_features(x).shape == (2, 16, 1, 1, 1)
    model.reset_classifier(5)
    assert model.double()(x).shape == (2, 5)
    with pytest.raises(ValueError, match="argument 'x'"):
        model(torch.randn(1, 16, 16, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match="argument 'layers'"):
        zoo.load(name, layers=(1, 1))
