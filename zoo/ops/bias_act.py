"""Fused bias + activation, y = act(x + bias): the epilogue of our linear and conv layers.

Python half of csrc/bias_act/: the typed wrapper, the PyTorch reference (test
oracle and fallback) and the fake kernels. Autograd, whose backward is our own
kernel (zoo::bias_act_backward), is csrc/bias_act/bias_act_autograd.cpp.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch._prims_common import suggest_memory_format

from zoo.ops import _extension
from zoo.ops.backend import use_extension

KERNEL_DEVICES = ("cpu", "meta", "cuda")

ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_tanh": functools.partial(F.gelu, approximate="tanh"),
    "silu": F.silu,
}


def bias_act(x: torch.Tensor, bias: torch.Tensor | None = None, act: str = "relu", dim: int = 1) -> torch.Tensor:
    """act(x + bias), with the 1-D `bias` broadcast along dimension `dim` of x."""
    if use_extension(x.device, op="bias_act", kernel_devices=KERNEL_DEVICES):
        return torch.ops.zoo.bias_act.default(x, bias, act, dim)
    return bias_act_reference(x, bias, act, dim)


def check_act(op: str, act: str) -> None:
    """The `act` check of every op with a fused activation, with the C++ kernels' message."""
    if act not in ACTIVATIONS:
        raise ValueError(f"zoo.{op}: argument 'act' must be one of {', '.join(map(repr, ACTIVATIONS))}, got {act!r}")


def _check_reference_args(x: torch.Tensor, bias: torch.Tensor | None, act: str, dim: int) -> None:
    """The checks the C++ kernels make, with the same messages, for the reference path."""
    check_act("bias_act", act)
    if not x.is_floating_point():
        raise ValueError(f"zoo.bias_act: argument 'x' must be a floating-point tensor, got {x.dtype}")
    if bias is None:
        return
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"zoo.bias_act: argument 'dim' must be in [{-x.dim()}, {x.dim() - 1}], got {dim}")
    if bias.dim() != 1 or bias.numel() != x.size(dim):
        raise ValueError(
            f"zoo.bias_act: argument 'bias' must be 1-D with x.size(dim) = {x.size(dim)} elements, "
            f"got shape {tuple(bias.shape)}"
        )
    if bias.dtype != x.dtype:
        raise ValueError(f"zoo.bias_act: argument 'bias' must have the same dtype as 'x', got {bias.dtype} and {x.dtype}")
    if bias.device != x.device:
        raise ValueError(f"zoo.bias_act: argument 'bias' must be on the same device as 'x', got {bias.device} and {x.device}")


def bias_act_reference(x: torch.Tensor, bias: torch.Tensor | None = None, act: str = "relu", dim: int = 1) -> torch.Tensor:
    """Pure-PyTorch bias_act: the oracle our kernels are tested against."""
    _check_reference_args(x, bias, act, dim)
    if bias is not None:
        shape = [1] * x.dim()
        shape[dim] = -1
        x = x + bias.view(shape)
    return ACTIVATIONS[act](x)


def _result_format(x: torch.Tensor, bias: torch.Tensor | None, dim: int) -> torch.memory_format:
    """The kernels' layout rule (plan in csrc/bias_act/bias_act.h): channels-last where x's strides
    suggest it, unless a bias runs along another dim than the channels'."""
    fmt = suggest_memory_format(x)
    if fmt == torch.contiguous_format or x.is_contiguous() or bias is None or dim % x.dim() == 1:
        return fmt
    return torch.contiguous_format


def _fake_bias_act(x, bias, act, dim):
    return torch.empty_like(x, memory_format=_result_format(x, bias, dim))


def _fake_bias_act_backward(grad, x, bias, act, dim, compute_bias_grad):
    grad_bias = torch.empty_like(bias) if bias is not None and compute_bias_grad else x.new_empty(0)
    return torch.empty_like(x, memory_format=_result_format(x, bias, dim)), grad_bias


@_extension.on_load
def _register() -> None:
    torch.library.register_fake("zoo::bias_act")(_fake_bias_act)
    torch.library.register_fake("zoo::bias_act_backward")(_fake_bias_act_backward)
