"""zoo-medical: medical-imaging models on zoo's kernels, registered through the `zoo.plugins` entry point."""

import zoo

from zoo_medical import unet

ZOO_PLUGIN_API = 1


@zoo.hookimpl
def zoo_register_models(register):
    """The medical-imaging line-up (grows as the conv kernels land)."""
    register(unet.UNET_2D)
    register(unet.UNET_3D)
