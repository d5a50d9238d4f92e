"""Convolution layers on zoo's conv kernels, drop-in for torch.nn.

Each subclasses its torch.nn layer (same arguments, same state_dict keys, and
isinstance checks in other libraries' init code still hold) and replaces only
the call into the functional op. `activation` (default 'identity') fuses bias +
activation into the kernel's epilogue; zoo.nn.Conv2dAct and friends set it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.ops.bias_act import ACTIVATIONS
from zoo.ops.conv import conv, conv_transpose


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """x in the layout our conv kernels compute in (channels-last for 4-D and 5-D), so a CNN that
    converts its input once runs every conv, norm and pool after it without a layout copy.
    `.to`, not `.contiguous`: a one-channel image is already channels-last-contiguous, and only
    `.to` gives it the strides that make our kernels' results channels-last."""
    if x.dim() == 4:
        return x.to(memory_format=torch.channels_last)
    if x.dim() == 5:
        return x.to(memory_format=torch.channels_last_3d)
    return x


def check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"argument 'activation' must be one of {', '.join(map(repr, ACTIVATIONS))}, got {activation!r}")
    return activation


class _Conv:
    activation = "identity"

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        padding = self.padding
        if self.padding_mode != "zeros":  # as torch.nn does: pad explicitly, convolve unpadded
            x, padding = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode), 0
        return conv(x, weight, bias, self.stride, padding, self.dilation, self.groups, self.activation)


class _ConvTranspose:
    activation = "identity"

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if self.padding_mode != "zeros":
            raise ValueError(f"argument 'padding_mode' must be 'zeros' for {type(self).__name__}, "
                             f"got {self.padding_mode!r}")
        n = len(self.kernel_size)
        output_padding = self._output_padding(x, output_size, self.stride, self.padding, self.kernel_size, n,
                                              self.dilation)
        return conv_transpose(x, self.weight, self.bias, self.stride, self.padding, output_padding, self.groups,
                              self.dilation, self.activation)


class Conv1d(_Conv, nn.Conv1d):
    """torch.nn.Conv1d on zoo.ops.conv."""


class Conv2d(_Conv, nn.Conv2d):
    """torch.nn.Conv2d on zoo.ops.conv."""


class Conv3d(_Conv, nn.Conv3d):
    """torch.nn.Conv3d on zoo.ops.conv."""


class ConvTranspose1d(_ConvTranspose, nn.ConvTranspose1d):
    """torch.nn.ConvTranspose1d on zoo.ops.conv_transpose."""


class ConvTranspose2d(_ConvTranspose, nn.ConvTranspose2d):
    """torch.nn.ConvTranspose2d on zoo.ops.conv_transpose."""


class ConvTranspose3d(_ConvTranspose, nn.ConvTranspose3d):
    """torch.nn.ConvTranspose3d on zoo.ops.conv_transpose."""
