"""U-Net for 2D or 3D segmentation, `spatial_dims` as in MONAI (Ronneberger et al. 2015; Cicek et al. 2016),
with MONAI's residual-unit option and the attention gates of Attention U-Net (Oktay et al. 2018).

Each level: two 3x3(x3) convolutions on zoo's conv kernel with bias + ReLU
fused into it (plus a shortcut with `residual=True`); max-pool down, zoo's
transposed conv up, skip connections by concatenation, each skip first weighted
by an attention gate driven by the upsampled decoder features with
`attention=True`. Spatial sizes must be divisible by 2**(len(channels) - 1).
"""

from typing import Sequence

import torch
from torch import nn

import zoo
from zoo.nn import Conv2d, Conv2dAct, Conv3d, Conv3dAct, ConvTranspose2d, ConvTranspose3d, channels_last
from zoo_medical.recipe import train_unet3d

_CONV_ACT = {2: Conv2dAct, 3: Conv3dAct}
_POOL = {2: nn.MaxPool2d, 3: nn.MaxPool3d}
_UP = {2: ConvTranspose2d, 3: ConvTranspose3d}
_HEAD = {2: Conv2d, 3: Conv3d}


def _double_conv(spatial_dims: int, cin: int, cout: int) -> nn.Sequential:
    conv = _CONV_ACT[spatial_dims]
    return nn.Sequential(conv(cin, cout, 3, padding=1), conv(cout, cout, 3, padding=1))


class Residual(nn.Module):
    """body(x) + shortcut(x), the shortcut a 1x1 conv where the channel count changes (MONAI's residual unit)."""

    def __init__(self, spatial_dims: int, cin: int, cout: int):
        super().__init__()
        self.body = _double_conv(spatial_dims, cin, cout)
        self.shortcut = _HEAD[spatial_dims](cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


def _block(spatial_dims: int, cin: int, cout: int, residual: bool) -> nn.Module:
    return Residual(spatial_dims, cin, cout) if residual else _double_conv(spatial_dims, cin, cout)


class AttentionGate(nn.Module):
    """Weights a skip connection by sigmoid(psi(relu(W_x skip + W_g gate))), one weight per voxel."""

    def __init__(self, spatial_dims: int, channels: int):
        super().__init__()
        conv, inner = _HEAD[spatial_dims], max(channels // 2, 1)
        self.w_gate = conv(channels, inner, 1)
        self.w_skip = conv(channels, inner, 1, bias=False)
        self.psi = conv(inner, 1, 1)

    def forward(self, gate: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return skip * torch.sigmoid(self.psi(torch.relu(self.w_gate(gate) + self.w_skip(skip))))


class UNet(nn.Module):
    def __init__(self, spatial_dims: int = 3, in_channels: int = 1, out_channels: int = 2,
                 channels: Sequence[int] = (16, 32, 64), residual: bool = False, attention: bool = False):
        super().__init__()
        if spatial_dims not in _CONV_ACT:
            raise ValueError(f"argument 'spatial_dims' must be 2 or 3, got {spatial_dims}")
        if len(channels) < 2:
            raise ValueError(f"argument 'channels' needs at least 2 levels, got {tuple(channels)}")
        self.spatial_dims = spatial_dims
        self.down = nn.ModuleList()
        cin = in_channels
        for c in channels:
            self.down.append(_block(spatial_dims, cin, c, residual))
            cin = c
        self.pool = _POOL[spatial_dims](2)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        self.gates = nn.ModuleList() if attention else None
        for deep, shallow in zip(reversed(channels[1:]), reversed(channels[:-1])):
            self.up.append(_UP[spatial_dims](deep, shallow, 2, stride=2))
            self.merge.append(_block(spatial_dims, 2 * shallow, shallow, residual))
            if attention:
                self.gates.append(AttentionGate(spatial_dims, shallow))
        self.head = _HEAD[spatial_dims](channels[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-voxel class logits, (batch, out_channels, *spatial)."""
        factor = 2 ** (len(self.down) - 1)
        if any(s % factor for s in x.shape[2:]):
            raise ValueError(f"input spatial size {tuple(x.shape[2:])} must be divisible by {factor}")
        skips = []
        x = channels_last(x)  # our conv kernels' layout, kept by pooling, concatenation and every conv
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        for level, (up, merge, skip) in enumerate(zip(self.up, self.merge, reversed(skips[:-1]))):
            x = up(x)
            if self.gates is not None:
                skip = self.gates[level](x, skip)
            x = merge(torch.cat([x, skip], dim=1))
        return self.head(x)


def _volumes(config, batch_size):
    g = torch.Generator().manual_seed(0)
    side = 32 if config["spatial_dims"] == 3 else 64
    shape = (batch_size, config["in_channels"]) + (side,) * config["spatial_dims"]
    return (torch.randn(shape, generator=g),)


def _spec(name: str, spatial_dims: int, paper: str, num_params: int, attention: bool = False,
          train=None) -> zoo.ModelSpec:
    return zoo.ModelSpec(
        name=name,
        builder=UNet,
        domain="medical",
        task="segmentation",
        inputs=_volumes,
        default_config={"spatial_dims": spatial_dims, "in_channels": 1, "out_channels": 2, "channels": (16, 32, 64),
                        "residual": False, "attention": attention},
        paper=paper,
        ops=("conv", "conv_transpose"),
        num_params=num_params,
        train=train,
    )


UNET_2D = _spec("unet2d", 2, "https://arxiv.org/abs/1505.04597", 116770)
UNET_3D = _spec("unet3d", 3, "https://arxiv.org/abs/1606.06650", 339266, train=train_unet3d)
ATTENTION_UNET_3D = _spec("attention_unet3d", 3, "https://arxiv.org/abs/1804.03999", 340596, attention=True)
