"""Linear and convolution layers whose bias add and activation run as one fused op.

Each subclasses its torch.nn layer, so arguments and state_dict keys are
unchanged: an nn.Linear / nn.Conv2d checkpoint loads as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.ops.bias_act import ACTIVATIONS, bias_act


def _check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"argument 'activation' must be one of {', '.join(map(repr, ACTIVATIONS))}, got {activation!r}")
    return activation


class LinearAct(nn.Linear):
    """nn.Linear followed by `activation`, with the bias fused into the activation."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "relu", **kwargs):
        super().__init__(in_features, out_features, bias=bias, **kwargs)
        self.activation = _check_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bias_act(F.linear(x, self.weight), self.bias, self.activation, dim=-1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation!r}"


class _ConvAct:
    """Conv forward without bias, then the fused bias + activation on the channel dim."""

    def __init__(self, *args, activation: str = "relu", **kwargs):
        super().__init__(*args, **kwargs)
        self.activation = _check_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._conv_forward(x, self.weight, None)
        # The channel dim counted from the end works for batched and unbatched input.
        return bias_act(y, self.bias, self.activation, dim=-(self.weight.dim() - 1))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation!r}"


class Conv1dAct(_ConvAct, nn.Conv1d):
    """nn.Conv1d followed by `activation` (keyword-only), bias fused into it."""


class Conv2dAct(_ConvAct, nn.Conv2d):
    """nn.Conv2d followed by `activation` (keyword-only), bias fused into it."""


class Conv3dAct(_ConvAct, nn.Conv3d):
    """nn.Conv3d followed by `activation` (keyword-only), bias fused into it."""
