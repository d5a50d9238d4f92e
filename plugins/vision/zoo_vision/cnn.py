"""The classic small CNN for 28x28 grey digits: Conv-Pool-Conv-Pool-Conv-Dense.

Layer for layer the Keras MNIST example (32/64/64 filters of 3x3, Dense(64),
Dense(num_classes)). Convolutions run on zoo's conv kernel with bias + ReLU fused
in; the dense layer's bias + ReLU on zoo's bias_act kernel.
"""

import torch
from torch import nn

import zoo
from zoo.nn import Conv2dAct, Linear, LinearAct, channels_last
from zoo_vision.train_digits import train_mnist_cnn


class MnistCNN(nn.Module):
    def __init__(self, num_classes: int = 10, in_chans: int = 1, img_size: int = 28):
        super().__init__()
        side = ((img_size - 2) // 2 - 2) // 2 - 2  # three valid 3x3 convs, two 2x2 pools
        if side < 1:
            raise ValueError(f"argument 'img_size' must be at least 10 for this network, got {img_size}")
        self.features = nn.Sequential(
            Conv2dAct(in_chans, 32, 3),
            nn.MaxPool2d(2),
            Conv2dAct(32, 64, 3),
            nn.MaxPool2d(2),
            Conv2dAct(64, 64, 3),
            nn.Flatten(),
            LinearAct(64 * side * side, 64),
        )
        self.head = Linear(64, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The 64-d embedding before the classifier (convolutions run channels-last)."""
        return self.features(channels_last(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh classifier with `num_classes` outputs, for transfer learning."""
        self.head = Linear(self.head.in_features, num_classes)


def _images(config, batch_size):
    g = torch.Generator().manual_seed(0)
    return (torch.rand(batch_size, config["in_chans"], config["img_size"], config["img_size"], generator=g),)


MNIST_CNN = zoo.ModelSpec(
    name="mnist_cnn",
    builder=MnistCNN,
    domain="vision",
    task="image-classification",
    inputs=_images,
    default_config={"num_classes": 10, "in_chans": 1, "img_size": 28},
    paper="https://keras.io/examples/vision/mnist_convnet/ (LeCun et al. 1998 lineage)",
    ops=("conv", "linear"),
    num_params=93322,
    train=train_mnist_cnn,
)
