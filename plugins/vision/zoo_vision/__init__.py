"""zoo-vision: image models on zoo's kernels, registered through the `zoo.plugins` entry point."""

import zoo

from zoo_vision import cnn

ZOO_PLUGIN_API = 1


@zoo.hookimpl
def zoo_register_models(register):
    """The vision line-up (grows as the conv and attention kernels land)."""
    register(cnn.MNIST_CNN)
