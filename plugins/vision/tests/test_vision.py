"""zoo-vision: the seed CNN against a torch.nn build of the same network with the same weights."""

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.ops import backend


def plain_torch_forward(model, x):
    """The Keras-example network written with torch.nn.functional only: the independent oracle."""
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    x = F.max_pool2d(F.relu(F.conv2d(x, convs[0].weight, convs[0].bias)), 2)
    x = F.max_pool2d(F.relu(F.conv2d(x, convs[1].weight, convs[1].bias)), 2)
    x = F.relu(F.conv2d(x, convs[2].weight, convs[2].bias)).flatten(1)
    dense = model.features[-1]
    x = F.relu(F.linear(x, dense.weight, dense.bias))
    return F.linear(x, model.head.weight, model.head.bias)


@pytest.mark.parametrize("mode", ["ext", "torch"])
def test_mnist_cnn_matches_plain_torch(mode):
    model = zoo.load("mnist_cnn")
    (x,) = zoo.info("mnist_cnn").example_inputs(4)
    with torch.no_grad(), backend(mode):
        torch.testing.assert_close(model(x), plain_torch_forward(model, x), atol=1e-5, rtol=1e-5)


def test_overrides_features_and_reset_classifier():
    model = zoo.load("mnist_cnn", num_classes=5, in_chans=3, img_size=32)
    x = torch.rand(2, 3, 32, 32)
    assert model(x).shape == (2, 5)
    assert model.forward_features(x).shape == (2, 64)
    model.reset_classifier(7)
    assert model(x).shape == (2, 7)


def test_too_small_images_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match="argument 'img_size'"):
        zoo.load("mnist_cnn", img_size=8)


def test_dcgan_pair_shapes_ranges_and_tutorial_names():
    """The generator's 64x64 images in [-1, 1] feed the discriminator, which gives one probability per image."""
    generator, discriminator = zoo.load("dcgan_generator"), zoo.load("dcgan_discriminator")
    (z,) = zoo.info("dcgan_generator").example_inputs(3)
    with torch.no_grad(), backend("ext"):
        images = generator(z)
        assert images.shape == (3, 3, 64, 64) and images.abs().max() <= 1
        p = discriminator(images)
    assert p.shape == (3,) and ((p > 0) & (p < 1)).all()
    assert "main.0.weight" in generator.state_dict() and "main.12.weight" in generator.state_dict()
    with pytest.raises(ValueError, match="argument 'images'"):
        discriminator(torch.randn(1, 3, 32, 32))
