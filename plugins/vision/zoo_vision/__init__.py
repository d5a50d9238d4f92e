"""zoo-vision: image models on zoo's kernels, registered through the `zoo.plugins` entry point."""

import zoo

from zoo_vision import cnn, dcgan, resnet, vgg, vit

ZOO_PLUGIN_API = 1


@zoo.hookimpl
def zoo_register_models(register):
    """The vision line-up: the seed CNN, ResNets, VGGs, AlexNet, ViTs and the DCGAN pair (detection to come)."""
    for spec in [cnn.MNIST_CNN, *resnet.RESNETS, *vgg.VGGS, vgg.ALEXNET, *vit.VITS, dcgan.DCGAN_GENERATOR,
                 dcgan.DCGAN_DISCRIMINATOR]:
        register(spec)
