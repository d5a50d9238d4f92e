"""The CUDA conv kernels (csrc/conv/conv_cuda_kernels.cuh, implicit GEMMs on common/implicit_gemm.cuh) run on
the host by tests/ops/emulated/cuda_emulation.h, since CI has no GPU, through the same Ops the CUDA build
registers: outputs and every gradient against float64 PyTorch, in all four dtypes (fp16/bf16 on the tensor-core
path, fp32/fp64 on the CUDA-core one), with split-K shares cut small so the gradients' atomics add several.
What it cannot see: the hardware's own WMMA layouts, launch limits, timing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.ops import ACTIVATIONS
from zoo.ops.conv import _resolve_padding, _tuple
from zoo.tolerances import tolerance

from ..conftest import load_emulated
from .test_conv import CONV_CASES, TRANSPOSE_CASES, _assert_matches, _ids, _inputs, _reference_conv, _reference_transpose

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    return load_emulated("conv.cpp", tmp_path_factory.mktemp("emulated"))


def emulated_conv(emulated, act="identity"):
    """F.conv*d's contract on the emulated conv and conv_backward, as zoo.ops.conv calls the ops."""

    class Conv(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b, args):
            ctx.save_for_backward(x, w)
            ctx.args = args
            return emulated.conv(x, w, b, *args, act)

        @staticmethod
        def backward(ctx, grad):
            x, w = ctx.saved_tensors
            return (*emulated.conv_backward(grad, x, w, *ctx.args, [True] * 3), None)

    def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        n = w.dim() - 2
        if x.dim() == n + 1:
            return conv(x.unsqueeze(0), w, b, stride, padding, dilation, groups).squeeze(0)
        stride, dilation = _tuple(stride, n, "stride", "conv"), _tuple(dilation, n, "dilation", "conv")
        x, padding = _resolve_padding("conv", padding, x, w, stride, dilation, n)
        return Conv.apply(x, w, b, (stride, padding, dilation, groups))

    return conv


def emulated_conv_transpose(emulated):
    """F.conv_transpose*d's contract on the emulated conv_transpose and its backward."""

    class ConvTranspose(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b, args):
            ctx.save_for_backward(x, w)
            ctx.args = args
            return emulated.conv_transpose(x, w, b, *args, "identity")

        @staticmethod
        def backward(ctx, grad):
            x, w = ctx.saved_tensors
            return (*emulated.conv_transpose_backward(grad, x, w, *ctx.args, [True] * 3), None)

    def conv_transpose(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        n = w.dim() - 2
        args = [_tuple(v, n, "", "conv_transpose") for v in (stride, padding, output_padding, dilation)]
        return ConvTranspose.apply(x, w, b, (*args, groups))

    return conv_transpose


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("x_shape, w_shape, kw", CONV_CASES, ids=_ids(CONV_CASES))
def test_emulated_conv_matches_float64_reference(emulated, dtype, x_shape, w_shape, kw):
    _assert_matches(emulated_conv(emulated), _reference_conv, x_shape, w_shape, kw, w_shape[0], "cpu", dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("x_shape, w_shape, kw", TRANSPOSE_CASES, ids=_ids(TRANSPOSE_CASES))
def test_emulated_conv_transpose_matches_float64_reference(emulated, dtype, x_shape, w_shape, kw):
    channels = w_shape[1] * kw.get("groups", 1)
    _assert_matches(emulated_conv_transpose(emulated), _reference_transpose, x_shape, w_shape, kw, channels, "cpu",
                    dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_emulated_fused_epilogue_matches_activation_of_conv(emulated, act, dtype):
    x, w, b = _inputs((2, 6, 9, 8), (10, 6, 3, 3), 10, dtype, "cpu")
    expected = ACTIVATIONS[act](F.conv2d(x.double(), w.double(), b.double(), padding=1))
    ours = emulated.conv(x, w, b, [1, 1], [1, 1], [1, 1], 1, act)
    atol, rtol = tolerance(dtype)
    torch.testing.assert_close(ours, expected.to(dtype), atol=atol, rtol=rtol)


def test_emulated_ops_check_their_arguments(emulated):
    x, w, b = _inputs((2, 6, 9, 8), (10, 6, 3, 3), 10, torch.float32, "cpu")
    with pytest.raises(ValueError, match="argument 'x' must be float16, bfloat16, float32 or float64"):
        emulated.conv(x.to(torch.float8_e4m3fn), w.to(torch.float8_e4m3fn), None, [1], [1], [1], 1, "identity")
    with pytest.raises(ValueError, match="argument 'grad_out' must have the output's shape"):
        emulated.conv_backward(x, x, w, [1], [1], [1], 1, [True] * 3)
