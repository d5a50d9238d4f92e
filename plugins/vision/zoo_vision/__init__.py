"""zoo-vision: image models on zoo's kernels, registered through the `zoo.plugins` entry point."""

import zoo

from zoo_vision import cnn, dcgan, detector, resnet, vgg, vit

ZOO_PLUGIN_API = 1


@zoo.hookimpl
def zoo_register_models(register):
    """The vision line-up: the seed CNN, ResNets, VGGs, AlexNet, ViTs, a YOLO-style detector and the DCGAN pair."""
    for spec in [cnn.MNIST_CNN, *resnet.RESNETS, *vgg.VGGS, vgg.ALEXNET, *vit.VITS, detector.YOLO_RESNET18,
                 dcgan.DCGAN_GENERATOR, dcgan.DCGAN_DISCRIMINATOR]:
        register(spec)
