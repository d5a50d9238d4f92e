"""Linear layers on zoo.ops.linear; LinearAct fuses bias + activation into the kernel's epilogue.

Each subclasses torch.nn.Linear, so arguments and state_dict keys are unchanged:
an nn.Linear checkpoint loads as is.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.nn.conv import check_activation
from zoo.ops.linear import linear


class Linear(nn.Linear):
    """torch.nn.Linear on our GEMM kernels."""

    activation = "identity"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias, self.activation)


class LinearAct(Linear):
    """nn.Linear followed by `activation`, bias and activation fused into the kernel's epilogue."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "relu", **kwargs):
        super().__init__(in_features, out_features, bias=bias, **kwargs)
        self.activation = check_activation(activation)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation!r}"
