"""zoo-vision: image models on zoo's kernels, registered through the `zoo.plugins` entry point."""

import zoo

from zoo_vision import cnn, dcgan, resnet, vgg

ZOO_PLUGIN_API = 1


@zoo.hookimpl
def zoo_register_models(register):
    """The vision line-up: the seed CNN, ResNets, VGGs, AlexNet and the DCGAN pair (ViT and detection to come)."""
    for spec in [cnn.MNIST_CNN, *resnet.RESNETS, *vgg.VGGS, vgg.ALEXNET, dcgan.DCGAN_GENERATOR, dcgan.DCGAN_DISCRIMINATOR]:
        register(spec)
