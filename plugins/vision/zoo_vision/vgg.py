"""VGG-11/13/16/19 with and without batch norm (Simonyan & Zisserman 2014) and AlexNet
(Krizhevsky et al. 2012, torchvision's single-tower variant) on zoo's conv kernels.

Module names and indices are torchvision's (features.0.weight, classifier.6.bias),
so torchvision checkpoints load as is; timm's VGGs name their classifier
differently and are renamed by `timm_vgg_to_torchvision`.
"""

from __future__ import annotations

import torch
from torch import nn

import zoo
from zoo.nn import Conv2d, Linear, channels_last
from zoo_vision.common import IMAGENET, image_inputs, torchvision_peer

# Output channels per conv, "M" a 2x2 max-pool: configurations A, B, D, E of the paper.
LAYOUTS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class _Classifier(nn.Module):
    """Shared by VGG and AlexNet: features, adaptive average pool, a classifier whose last layer is the head."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last conv stage's feature map (computed channels-last, our conv kernels' layout)."""
        return self.features(channels_last(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(features), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh last layer with `num_classes` outputs, for transfer learning."""
        last = len(self.classifier) - 1
        self.classifier[last] = Linear(self.classifier[last].in_features, num_classes)


class VGG(_Classifier):
    def __init__(self, depth: int = 16, batch_norm: bool = False, num_classes: int = 1000, in_chans: int = 3,
                 img_size: int = 224, dropout: float = 0.5):
        super().__init__()
        if depth not in LAYOUTS:
            raise ValueError(f"argument 'depth' must be one of {sorted(LAYOUTS)}, got {depth!r}")
        if img_size < 32:
            raise ValueError(f"argument 'img_size' must be at least 32 (five 2x2 pools), got {img_size}")
        layers: list[nn.Module] = []
        channels = in_chans
        for v in LAYOUTS[depth]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(Conv2d(channels, v, 3, padding=1))
            layers += [nn.BatchNorm2d(v), nn.ReLU(inplace=True)] if batch_norm else [nn.ReLU(inplace=True)]
            channels = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(dropout),
            Linear(4096, 4096), nn.ReLU(True), nn.Dropout(dropout),
            Linear(4096, num_classes),
        )
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)


class AlexNet(_Classifier):
    def __init__(self, num_classes: int = 1000, in_chans: int = 3, img_size: int = 224, dropout: float = 0.5):
        super().__init__()
        if img_size < 63:
            raise ValueError(f"argument 'img_size' must be at least 63 (an 11x11/4 conv and three 3x3/2 pools), "
                             f"got {img_size}")
        self.features = nn.Sequential(
            Conv2d(in_chans, 64, 11, 4, 2), nn.ReLU(True), nn.MaxPool2d(3, 2),
            Conv2d(64, 192, 5, padding=2), nn.ReLU(True), nn.MaxPool2d(3, 2),
            Conv2d(192, 384, 3, padding=1), nn.ReLU(True),
            Conv2d(384, 256, 3, padding=1), nn.ReLU(True),
            Conv2d(256, 256, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(6)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), Linear(256 * 6 * 6, 4096), nn.ReLU(True),
            nn.Dropout(dropout), Linear(4096, 4096), nn.ReLU(True),
            Linear(4096, num_classes),
        )


def timm_vgg_to_torchvision(state_dict: dict) -> dict:
    """timm's VGG (features.*, pre_logits.fc1/fc2 as 7x7 and 1x1 convs, head.fc) -> torchvision's names."""
    if not any(k.startswith("pre_logits.") for k in state_dict):
        return state_dict  # torchvision's (or ours) already
    renamed = {}
    for key, value in state_dict.items():
        if key.startswith("pre_logits.fc1."):
            renamed["classifier.0." + key.rsplit(".", 1)[1]] = value.flatten(1) if value.dim() == 4 else value
        elif key.startswith("pre_logits.fc2."):
            renamed["classifier.3." + key.rsplit(".", 1)[1]] = value.flatten(1) if value.dim() == 4 else value
        elif key.startswith("head.fc."):
            renamed["classifier.6." + key.rsplit(".", 1)[1]] = value
        else:
            renamed[key] = value
    return renamed


_VGG_PARAMS = {(11, False): 132863336, (11, True): 132868840, (13, False): 133047848, (13, True): 133053736,
               (16, False): 138357544, (16, True): 138365992, (19, False): 143667240, (19, True): 143678248}


def _vgg_spec(depth: int, batch_norm: bool) -> zoo.ModelSpec:
    return zoo.ModelSpec(
        name=f"vgg{depth}{'_bn' if batch_norm else ''}",
        builder=VGG,
        domain="vision",
        task="image-classification",
        inputs=image_inputs,
        default_config={"depth": depth, "batch_norm": batch_norm, "num_classes": 1000, "in_chans": 3,
                        "img_size": 224, "dropout": 0.5},
        paper="https://arxiv.org/abs/1409.1556",
        ops=("conv", "linear"),
        num_params=_VGG_PARAMS[depth, batch_norm],
        convert=timm_vgg_to_torchvision,
        preprocessing=IMAGENET,
        peer=torchvision_peer(f"vgg{depth}{'_bn' if batch_norm else ''}"),
    )


VGGS = [_vgg_spec(depth, bn) for depth in sorted(LAYOUTS) for bn in (False, True)]

ALEXNET = zoo.ModelSpec(
    name="alexnet",
    builder=AlexNet,
    domain="vision",
    task="image-classification",
    inputs=image_inputs,
    default_config={"num_classes": 1000, "in_chans": 3, "img_size": 224, "dropout": 0.5},
    paper="https://arxiv.org/abs/1404.5997",
    ops=("conv", "linear"),
    num_params=61100840,
    preprocessing=IMAGENET,
    peer=torchvision_peer("alexnet"),
)
