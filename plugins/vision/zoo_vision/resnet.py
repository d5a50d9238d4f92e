"""ResNet-18/34/50/101/152 (He et al. 2015) on zoo's conv kernels.

Module names are torchvision's (conv1, bn1, layer1.0.conv1, ..., fc), which timm's
ResNets share for every parameter, so either library's checkpoint loads as is:
`zoo.load("resnet50", weights="resnet50.pth")`. Bottlenecks stride in the 3x3
conv (ResNet v1.5, as both libraries do). The input is made channels-last once,
our conv kernels' layout, and stays so through every block.
"""

from __future__ import annotations

import torch
from torch import nn

import zoo
from zoo.nn import Conv2d, Linear, channels_last
from zoo_vision.common import IMAGENET, image_inputs, torchvision_peer


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, block: str = "basic", layers: tuple[int, ...] = (2, 2, 2, 2), num_classes: int = 1000,
                 in_chans: int = 3, img_size: int = 224):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"argument 'block' must be one of {', '.join(map(repr, BLOCKS))}, got {block!r}")
        if img_size < 32:
            raise ValueError(f"argument 'img_size' must be at least 32 (five stride-2 stages), got {img_size}")
        block_cls = BLOCKS[block]
        self.in_planes = 64
        self.conv1 = Conv2d(in_chans, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._stage(block_cls, 64, layers[0], 1)
        self.layer2 = self._stage(block_cls, 128, layers[1], 2)
        self.layer3 = self._stage(block_cls, 256, layers[2], 2)
        self.layer4 = self._stage(block_cls, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = 512 * block_cls.expansion
        self.fc = Linear(self.num_features, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _stage(self, block_cls, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.in_planes != planes * block_cls.expansion:
            downsample = nn.Sequential(Conv2d(self.in_planes, planes * block_cls.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block_cls.expansion))
        stage = [block_cls(self.in_planes, planes, stride, downsample)]
        self.in_planes = planes * block_cls.expansion
        stage += [block_cls(self.in_planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map (N, num_features, H/32, W/32), as timm's forward_features."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(channels_last(x)))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(features), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh classifier with `num_classes` outputs, for transfer learning."""
        self.fc = Linear(self.num_features, num_classes)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def _spec(depth: int, block: str, layers: tuple[int, ...], num_params: int) -> zoo.ModelSpec:
    return zoo.ModelSpec(
        name=f"resnet{depth}",
        builder=ResNet,
        domain="vision",
        task="image-classification",
        inputs=image_inputs,
        default_config={"block": block, "layers": layers, "num_classes": 1000, "in_chans": 3, "img_size": 224},
        paper="https://arxiv.org/abs/1512.03385",
        ops=("conv", "linear"),
        num_params=num_params,
        preprocessing=IMAGENET,
        peer=torchvision_peer(f"resnet{depth}"),
    )


RESNETS = [
    _spec(18, "basic", (2, 2, 2, 2), 11689512),
    _spec(34, "basic", (3, 4, 6, 3), 21797672),
    _spec(50, "bottleneck", (3, 4, 6, 3), 25557032),
    _spec(101, "bottleneck", (3, 4, 23, 3), 44549160),
    _spec(152, "bottleneck", (3, 8, 36, 3), 60192808),
]
