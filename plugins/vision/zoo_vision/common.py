"""What the ImageNet classifiers share: their example inputs and the preprocessing their weights expect."""

import torch

import zoo

# torchvision's IMAGENET1K_V1 transforms: resize 256, center crop 224, ImageNet statistics.
IMAGENET = zoo.Preprocessing(resize=256, crop=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def image_inputs(config, batch_size):
    """A batch of random images at the configured size and channels."""
    g = torch.Generator().manual_seed(0)
    return (torch.randn(batch_size, config["in_chans"], config["img_size"], config["img_size"], generator=g),)
