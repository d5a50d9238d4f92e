"""Linear layer y = act(x W^T + b) on our GEMM kernels.

Python half of csrc/linear/: the wrapper, the PyTorch reference (test oracle and
fallback) and the fake kernels. Autograd, whose backward is our own kernel
(zoo::linear_backward), is csrc/linear/linear_autograd.cpp.

Why our own: on the AMD EPYC machines we first ran on, ATen's BLAS runs a float32
decoding step (a few rows against a large W) at 6-15 GB/s of weights, where
our dot-product path streams W at memory bandwidth, and large products at
90-160 GFLOP/s, where our packed register tiles reach 140-185
(`zoo bench ops linear`). On Intel CPUs that BLAS (MKL) is at home and beats our
tiles from a few dozen rows up and our one-row path by a little, so there `auto`
keeps on our kernel only float32 products of 4-16 rows by a weight of more than
512 x 512 (reference_is_faster). Like conv, `act` fuses bias + activation into the
epilogue; with gradients wanted the wrapper runs it as zoo.bias_act instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.fx.experimental.symbolic_shapes import statically_known_true

from zoo.ops import _extension
from zoo.ops.backend import cpu_vendor, use_kernel, wants_grad
from zoo.ops.bias_act import ACTIVATIONS, bias_act, check_act

KERNEL_DEVICES = ("cpu", "meta", "cuda")
# Our CUDA kernels pass their tests on an H200 (.ci/gpu) but run far slower there than PyTorch's
# own CUDA ops (README, "On a GPU"): `auto` runs PyTorch's own ops on CUDA tensors; `ext` runs ours.
EXT_ONLY_DEVICES = ("cuda",)
# The products our CPU kernel runs faster than MKL on Intel CPUs: float32, decoding-sized. Measured on
# a 2-core Xeon (AVX-512), F.linear's time over ours side by side (README, "On Intel CPUs"): 1-3 rows
# 0.68-0.92x (MKL's GEMV; our call costs more too), 4 rows 1.5-1.8x, 8 rows 1.3-1.7x, 16 rows
# 0.98-1.18x, 32 rows and more 0.56-0.98x; float64 0.5-0.8x at most sizes.
OURS_ON_INTEL_ROWS = range(4, 17)
# ... and only with weights of more than 512 x 512 elements: up to that, the product takes a few microseconds
# and our call costs more than PyTorch's (8 rows: 128 x 128 0.6x, 256 x 256 0.72-0.74x, 512 x 512
# 0.84-0.92x; 768 x 768 0.84-0.97x with W hot in L2, 1024 x 1024 1.17-1.48x).
MKL_ON_INTEL_MAX_WEIGHT = 512 * 512
# Read once at import, so that torch.compile sees a constant rather than tracing a file read.
MKL_ON_INTEL = torch.backends.mkl.is_available() and cpu_vendor() == "GenuineIntel"


def reference_is_faster(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether PyTorch's GEMM is measured faster than ours for this product: MKL on an Intel CPU, unless
    float32 with OURS_ON_INTEL_ROWS rows (a symbolic row count counts as outside) and a weight of more than
    MKL_ON_INTEL_MAX_WEIGHT elements. `auto` then runs the reference; `ext` still runs ours."""
    if not MKL_ON_INTEL or x.device.type != "cpu":
        return False
    if weight.numel() <= MKL_ON_INTEL_MAX_WEIGHT:
        return True
    # A graph traced for any row count (torch.export's Dim, torch.compile's dynamic shapes) must not guard
    # on it: ours only where the count is known to be in range, without adding a guard.
    rows = math.prod(x.shape[:-1])
    return x.dtype != torch.float32 or not (statically_known_true(rows >= OURS_ON_INTEL_ROWS.start)
                                             and statically_known_true(rows < OURS_ON_INTEL_ROWS.stop))


def _check(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, act: str) -> None:
    """The checks both paths make (the kernel repeats the shape ones in C++), with the kernel's messages."""
    check_act("linear", act)
    if x.dim() < 1:
        raise ValueError("zoo.linear: argument 'x' must have at least 1 dimension (..., in_features), got a 0-D tensor")
    if weight.dim() != 2 or weight.shape[1] != x.shape[-1]:
        raise ValueError(f"zoo.linear: argument 'weight' must be 2-D (out_features, in_features = x.size(-1) = "
                         f"{x.shape[-1]}), got shape {tuple(weight.shape)}")
    if bias is not None and (bias.dim() != 1 or bias.shape[0] != weight.shape[0]):
        raise ValueError(f"zoo.linear: argument 'bias' must be 1-D with out_features = {weight.shape[0]} elements, "
                         f"got shape {tuple(bias.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != x.dtype:
            raise ValueError(f"zoo.linear: argument '{name}' must have the same dtype as 'x', got {t.dtype} and {x.dtype}")


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           act: str = "identity") -> torch.Tensor:
    """act(F.linear(x, weight, bias)): the contract of torch.nn.functional.linear plus `act`."""
    _check(x, weight, bias, act)
    if not use_kernel(x, op="linear", kernel_devices=KERNEL_DEVICES, ext_only_devices=EXT_ONLY_DEVICES,
                      reference_is_faster=lambda: reference_is_faster(x, weight)):
        return linear_reference(x, weight, bias, act)
    if act != "identity" and wants_grad(x, weight, bias):
        return bias_act(torch.ops.zoo.linear.default(x, weight, bias, "identity"), None, act)
    return torch.ops.zoo.linear.default(x, weight, bias, act)


def linear_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                     act: str = "identity") -> torch.Tensor:
    """Pure-PyTorch linear + activation: the oracle our kernels are tested against."""
    _check(x, weight, bias, act)
    return ACTIVATIONS[act](F.linear(x, weight, bias))


def _fake_linear(x, weight, bias, act):
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


def _fake_linear_backward(grad_out, x, weight, output_mask):
    grad_x = torch.empty_like(x, memory_format=torch.contiguous_format) if output_mask[0] else x.new_empty(0)
    grad_w = torch.empty_like(weight, memory_format=torch.contiguous_format) if output_mask[1] else x.new_empty(0)
    grad_b = x.new_empty(weight.shape[0]) if output_mask[2] else x.new_empty(0)
    return grad_x, grad_w, grad_b


@_extension.on_load
def _register() -> None:
    torch.library.register_fake("zoo::linear")(_fake_linear)
    torch.library.register_fake("zoo::linear_backward")(_fake_linear_backward)
