"""3D ResNet-10/18 volume classifiers in the style of MedicalNet (Chen et al. 2019, Med3D) on zoo's conv3d.

The 2D ResNet with every layer made 3D: a 7x7x7 stride-2 stem, max-pool, four
stages of basic blocks (the first convolution of stages 2-4 strides by 2),
global average pooling and a linear head. Inputs are (N, C, D, H, W) volumes,
computed channels-last (NDHWC, our conv kernels' layout) throughout.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

import zoo
from zoo.nn import Conv3d, Linear, channels_last


class BasicBlock3d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = Conv3d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet3d(nn.Module):
    def __init__(self, layers: Sequence[int] = (2, 2, 2, 2), in_channels: int = 1, num_classes: int = 2,
                 widths: Sequence[int] = (64, 128, 256, 512)):
        super().__init__()
        if len(layers) != len(widths) or min(layers) < 1:
            raise ValueError(f"argument 'layers' must give a positive block count for each of the {len(widths)} "
                             f"stages, got {tuple(layers)}")
        self.conv1 = Conv3d(in_channels, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm3d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(3, 2, 1)
        stages, cin = [], widths[0]
        for i, (count, width) in enumerate(zip(layers, widths)):
            blocks = [BasicBlock3d(cin, width, 1 if i == 0 else 2)]
            blocks += [BasicBlock3d(width, width, 1) for _ in range(count - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = width
        self.layers = nn.Sequential(*stages)
        self.num_features = cin
        self.fc = Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map (N, num_features, D/32, H/32, W/32)."""
        if x.dim() != 5:
            raise ValueError(f"argument 'x' must be (N, C, D, H, W) volumes, got shape {tuple(x.shape)}")
        return self.layers(self.maxpool(self.relu(self.bn1(self.conv1(channels_last(x))))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x).mean(dim=(2, 3, 4)))

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh head with `num_classes` outputs, for transfer learning."""
        self.fc = Linear(self.num_features, num_classes)


def _volumes(config, batch_size):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(batch_size, config["in_channels"], 32, 32, 32, generator=g),)


def _spec(depth: int, layers: tuple[int, ...], num_params: int) -> zoo.ModelSpec:
    return zoo.ModelSpec(
        name=f"resnet3d_{depth}",
        builder=ResNet3d,
        domain="medical",
        task="volume-classification",
        inputs=_volumes,
        default_config={"layers": layers, "in_channels": 1, "num_classes": 2, "widths": (64, 128, 256, 512)},
        paper="https://arxiv.org/abs/1904.00625",
        ops=("conv", "linear"),
        num_params=num_params,
    )


RESNET3D = [_spec(10, (1, 1, 1, 1), 14356546), _spec(18, (2, 2, 2, 2), 33161026)]
