"""Linear and convolution layers whose bias add and activation run as one fused op.

Each subclasses its torch.nn layer, so arguments and state_dict keys are
unchanged: an nn.Linear / nn.Conv2d checkpoint loads as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.nn.conv import Conv1d, Conv2d, Conv3d, check_activation
from zoo.ops.bias_act import bias_act


class LinearAct(nn.Linear):
    """nn.Linear followed by `activation`, with the bias fused into the activation."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "relu", **kwargs):
        super().__init__(in_features, out_features, bias=bias, **kwargs)
        self.activation = check_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bias_act(F.linear(x, self.weight), self.bias, self.activation, dim=-1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation!r}"


class _ConvAct:
    """A zoo.nn conv layer whose kernel fuses bias + `activation` into its epilogue."""

    def __init__(self, *args, activation: str = "relu", **kwargs):
        super().__init__(*args, **kwargs)
        self.activation = check_activation(activation)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation!r}"


class Conv1dAct(_ConvAct, Conv1d):
    """nn.Conv1d followed by `activation` (keyword-only), bias and activation fused into the conv."""


class Conv2dAct(_ConvAct, Conv2d):
    """nn.Conv2d followed by `activation` (keyword-only), bias and activation fused into the conv."""


class Conv3dAct(_ConvAct, Conv3d):
    """nn.Conv3d followed by `activation` (keyword-only), bias and activation fused into the conv."""
