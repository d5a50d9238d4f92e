"""Convolution layers whose bias add and activation run in the conv kernel's epilogue.

Each subclasses its torch.nn layer, so arguments and state_dict keys are
unchanged: an nn.Conv2d checkpoint loads as is. (LinearAct is in zoo.nn.linear.)
"""

from __future__ import annotations

from zoo.nn.conv import Conv1d, Conv2d, Conv3d, check_activation


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
