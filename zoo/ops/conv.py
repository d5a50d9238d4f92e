"""N-D convolution and transposed convolution on our implicit-GEMM kernels.

Python half of csrc/conv/: the torch.nn.functional-style wrappers (padding as
int, tuple, 'same' or 'valid'; unbatched input), the PyTorch references (test
oracle and fallback) and the fake kernels. Autograd, whose backward is our own
kernel (zoo::conv_backward / conv_transpose_backward), is csrc/conv/conv_autograd.cpp.

`act` fuses bias + activation into the kernel's epilogue. With gradients wanted
the wrapper runs the activation as zoo.bias_act instead, so the backward never
has to recompute the pre-activation (it can, for direct calls of the op).
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence, Union

import torch
import torch.nn.functional as F
from torch._prims_common import suggest_memory_format

from zoo.ops import _extension
from zoo.ops.backend import use_kernel, wants_grad
from zoo.ops.bias_act import ACTIVATIONS, bias_act, check_act

KERNEL_DEVICES = ("cpu", "meta", "cuda")
# Our CUDA kernels pass their tests on an H200 (.ci/gpu) but run far slower there than PyTorch's
# own CUDA ops (README, "On a GPU"): `auto` runs PyTorch's own ops on CUDA tensors; `ext` runs ours.
EXT_ONLY_DEVICES = ("cuda",)
_FUNCTIONAL = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_FUNCTIONAL_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}

IntOrTuple = Union[int, Sequence[int]]

CONV_ALGORITHMS = ("auto", "direct", "winograd")  # the order of csrc/conv/algorithm.h


@contextlib.contextmanager
def conv_algorithm(name: str) -> Iterator[None]:
    """The CPU kernels' algorithm for 3x3 and 3x3x3 stride-1 convs inside the block, process-wide.

    'auto' (the default) runs Winograd's (csrc/conv/winograd.h) where a conv has enough output
    tiles to repay its transforms (and, for a 2-D forward, 32 channels a side), 'direct' never
    does (results then match the direct kernels bitwise), 'winograd' does wherever it applies,
    however small the conv.
    """
    if name not in CONV_ALGORITHMS:
        raise ValueError(f"argument 'name' must be one of {', '.join(CONV_ALGORITHMS)}; got {name!r}")
    module = _extension.status().module
    if module is None:  # the reference ops have no algorithm to choose
        yield
        return
    previous = module._set_conv_algorithm(CONV_ALGORITHMS.index(name))
    try:
        yield
    finally:
        module._set_conv_algorithm(previous)


def _tuple(value: IntOrTuple, n: int, name: str, op: str) -> list[int]:
    values = [value] * n if isinstance(value, int) else list(value)
    if len(values) != n or not all(isinstance(v, int) for v in values):
        raise ValueError(f"zoo.{op}: argument '{name}' must be an int or {n} ints, got {value!r}")
    return values


def _check(op: str, x: torch.Tensor, weight: torch.Tensor, n: int) -> None:
    """Rank and channel checks for both paths (the kernel repeats them in C++)."""
    if x.dim() not in (n + 1, n + 2):
        raise ValueError(f"zoo.{op}: argument 'x' must be {n + 2}-D (N, C, *spatial) or {n + 1}-D unbatched, "
                         f"got shape {tuple(x.shape)}")
    if weight.dim() != n + 2:
        raise ValueError(f"zoo.{op}: argument 'weight' must be {n + 2}-D, got shape {tuple(weight.shape)}")


def _same_padding(op, weight, stride, dilation, n) -> tuple[list[int], list[int]]:
    """(symmetric padding, extra right padding) that keeps the spatial size, as PyTorch pads for 'same'."""
    if any(s != 1 for s in stride):
        raise ValueError(f"zoo.{op}: argument 'padding' cannot be 'same' with stride {tuple(stride)}; use stride 1")
    totals = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
    return [t // 2 for t in totals], [t % 2 for t in totals]


def _resolve_padding(op, padding, x, weight, stride, dilation, n) -> tuple[torch.Tensor, list[int]]:
    """x (right-padded where 'same' is asymmetric) and the symmetric padding for the kernel."""
    if padding == "valid":
        return x, [0] * n
    if padding == "same":
        pad, extra = _same_padding(op, weight, stride, dilation, n)
        if any(extra):
            x = F.pad(x, [v for e in reversed(extra) for v in (0, e)])
        return x, pad
    if isinstance(padding, str):
        raise ValueError(f"zoo.{op}: argument 'padding' must be 'same', 'valid', an int or {n} ints, got {padding!r}")
    return x, _tuple(padding, n, "padding", op)


def conv(x, weight, bias=None, stride: IntOrTuple = 1, padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1,
         groups: int = 1, act: str = "identity") -> torch.Tensor:
    """act(convNd(x, weight, bias)), N from weight's rank; the contract of F.conv1d/2d/3d plus `act`."""
    n = weight.dim() - 2
    op = f"conv{n}d"
    _check(op, x, weight, n)
    if x.dim() == n + 1:  # unbatched
        return conv(x.unsqueeze(0), weight, bias, stride, padding, dilation, groups, act).squeeze(0)
    check_act(op, act)
    stride, dilation = _tuple(stride, n, "stride", op), _tuple(dilation, n, "dilation", op)
    x, padding = _resolve_padding(op, padding, x, weight, stride, dilation, n)
    if not use_kernel(x, op="conv", kernel_devices=KERNEL_DEVICES, ext_only_devices=EXT_ONLY_DEVICES):
        return conv_reference(x, weight, bias, stride, padding, dilation, groups, act)
    if act != "identity" and wants_grad(x, weight, bias):
        y = torch.ops.zoo.conv.default(x, weight, bias, stride, padding, dilation, groups, "identity")
        return bias_act(y, None, act)
    return torch.ops.zoo.conv.default(x, weight, bias, stride, padding, dilation, groups, act)


def conv_transpose(x, weight, bias=None, stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                   output_padding: IntOrTuple = 0, groups: int = 1, dilation: IntOrTuple = 1,
                   act: str = "identity") -> torch.Tensor:
    """act(conv_transposeNd(x, weight, bias)); the contract (and argument order) of F.conv_transpose1d/2d/3d."""
    n = weight.dim() - 2
    op = f"conv_transpose{n}d"
    _check(op, x, weight, n)
    if x.dim() == n + 1:
        return conv_transpose(x.unsqueeze(0), weight, bias, stride, padding, output_padding, groups, dilation,
                              act).squeeze(0)
    check_act(op, act)
    if isinstance(padding, str):
        raise ValueError(f"zoo.{op}: argument 'padding' must be an int or {n} ints, got {padding!r}")
    args = [_tuple(v, n, name, op) for v, name in
            ((stride, "stride"), (padding, "padding"), (output_padding, "output_padding"), (dilation, "dilation"))]
    if not use_kernel(x, op="conv", kernel_devices=KERNEL_DEVICES, ext_only_devices=EXT_ONLY_DEVICES):
        return conv_transpose_reference(x, weight, bias, *args, groups, act)
    split = act != "identity" and wants_grad(x, weight, bias)
    y = torch.ops.zoo.conv_transpose.default(x, weight, bias, *args, groups, "identity" if split else act)
    return bias_act(y, None, act) if split else y


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv1d on our kernels."""
    return conv(x, weight, bias, stride, padding, dilation, groups)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d on our kernels."""
    return conv(x, weight, bias, stride, padding, dilation, groups)


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv3d on our kernels."""
    return conv(x, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """F.conv_transpose1d on our kernels."""
    return conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """F.conv_transpose2d on our kernels."""
    return conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """F.conv_transpose3d on our kernels."""
    return conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_reference(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, act="identity"):
    """Pure-PyTorch conv: the oracle our kernels are tested against."""
    return ACTIVATIONS[act](_FUNCTIONAL[weight.dim() - 2](x, weight, bias, stride, padding, dilation, groups))


def conv_transpose_reference(x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1,
                             act="identity"):
    """Pure-PyTorch transposed conv (note: dilation before groups, as in the op's schema)."""
    y = _FUNCTIONAL_TRANSPOSE[weight.dim() - 2](x, weight, bias, stride, padding, output_padding, groups, dilation)
    return ACTIVATIONS[act](y)


def _channels_last(x: torch.Tensor) -> bool:
    """The kernels' rule for a channels-last result: PyTorch's Tensor.suggest_memory_format, decided by strides."""
    return suggest_memory_format(x) != torch.contiguous_format


def _empty_like_layout(like: torch.Tensor, shape) -> torch.Tensor:
    fmt = (torch.channels_last if like.dim() == 4 else torch.channels_last_3d) if _channels_last(like) else \
        torch.contiguous_format
    return torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=fmt)


def _conv_out(size, k, stride, pad, dil):
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def _transpose_out(size, k, stride, pad, extra, dil):
    return (size - 1) * stride - 2 * pad + dil * (k - 1) + extra + 1


def _spatial(values, n):
    return list(values) * n if len(values) == 1 else list(values)


def _fake_conv(x, weight, bias, stride, padding, dilation, groups, act):
    n = x.dim() - 2
    sizes = [_conv_out(*a) for a in zip(x.shape[2:], weight.shape[2:], _spatial(stride, n), _spatial(padding, n),
                                         _spatial(dilation, n))]
    return _empty_like_layout(x, [x.shape[0], weight.shape[0], *sizes])


def _fake_conv_transpose(x, weight, bias, stride, padding, output_padding, dilation, groups, act):
    n = x.dim() - 2
    sizes = [_transpose_out(*a) for a in zip(x.shape[2:], weight.shape[2:], _spatial(stride, n),
                                              _spatial(padding, n), _spatial(output_padding, n),
                                              _spatial(dilation, n))]
    return _empty_like_layout(x, [x.shape[0], weight.shape[1] * groups, *sizes])


def _fake_grads(x, weight, channels, output_mask):
    grad_x = _empty_like_layout(x, x.shape) if output_mask[0] else x.new_empty(0)
    grad_w = torch.empty_like(weight, memory_format=torch.contiguous_format) if output_mask[1] else x.new_empty(0)
    grad_b = x.new_empty(channels) if output_mask[2] else x.new_empty(0)
    return grad_x, grad_w, grad_b


def _fake_conv_backward(grad_out, x, weight, stride, padding, dilation, groups, output_mask):
    return _fake_grads(x, weight, weight.shape[0], output_mask)


def _fake_conv_transpose_backward(grad_out, x, weight, stride, padding, output_padding, dilation, groups, output_mask):
    return _fake_grads(x, weight, weight.shape[1] * groups, output_mask)


@_extension.on_load
def _register() -> None:
    torch.library.register_fake("zoo::conv")(_fake_conv)
    torch.library.register_fake("zoo::conv_backward")(_fake_conv_backward)
    torch.library.register_fake("zoo::conv_transpose")(_fake_conv_transpose)
    torch.library.register_fake("zoo::conv_transpose_backward")(_fake_conv_transpose_backward)
