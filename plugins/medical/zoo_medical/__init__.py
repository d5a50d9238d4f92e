"""zoo-medical: medical-imaging models on zoo's kernels, registered through the `zoo.plugins` entry point."""

import zoo

from zoo_medical import resnet3d, unet

ZOO_PLUGIN_API = 1


@zoo.hookimpl
def zoo_register_models(register):
    """2D/3D U-Nets (residual units optional), the attention U-Net, and 3D ResNet volume classifiers."""
    for spec in [unet.UNET_2D, unet.UNET_3D, unet.ATTENTION_UNET_3D, *resnet3d.RESNET3D]:
        register(spec)
