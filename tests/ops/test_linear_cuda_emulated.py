"""The CUDA linear kernels (csrc/linear/linear_cuda_kernels.cuh, GEMMs on common/implicit_gemm.cuh) run on the host
by tests/ops/emulated/cuda_emulation.h, since CI has no GPU, through the same Ops the CUDA build registers: outputs
and every gradient against the float64 reference by the flash rule, in all four dtypes (fp16/bf16 on the
tensor-core path, fp32/fp64 on the CUDA-core one), strided and transposed operands included.
What it cannot see: the hardware's own WMMA layouts, launch limits, timing."""

from __future__ import annotations

import pytest
import torch

from zoo.ops import ACTIVATIONS
from zoo.tolerances import tolerance

from ..conftest import load_emulated
from .test_linear import assert_matches_float64_reference

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    return load_emulated("linear.cpp", tmp_path_factory.mktemp("emulated"))


def emulated_linear(emulated):
    """zoo.ops.linear's contract on the emulated linear and linear_backward."""

    class Linear(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, weight, bias):
            ctx.save_for_backward(x, weight)
            ctx.with_bias = bias is not None
            return emulated.linear(x, weight, bias, "identity")

        @staticmethod
        def backward(ctx, grad):
            x, weight = ctx.saved_tensors
            grad_x, grad_w, grad_b = emulated.linear_backward(grad, x, weight, [True, True, ctx.with_bias])
            return grad_x, grad_w, grad_b if ctx.with_bias else None

    def linear(x, weight, bias=None, act="identity"):
        """As zoo.ops.linear runs it under autograd: the op, then the activation; the op's fused
        epilogue (its no-grad path) is checked against that forward."""
        y = ACTIVATIONS[act](Linear.apply(x, weight, bias))
        with torch.no_grad():
            fused = emulated.linear(x, weight, bias, act)
        torch.testing.assert_close(fused, y.detach(), **dict(zip(("atol", "rtol"), tolerance(x.dtype))))
        return y

    return linear


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_emulated_linear_matches_float64_reference(emulated, dtype):
    assert_matches_float64_reference("cpu", dtype, emulated_linear(emulated))


def test_emulated_ops_check_their_arguments(emulated):
    x, w = torch.randn(2, 3), torch.randn(4, 3)
    with pytest.raises(ValueError, match="argument 'x' must be float16, bfloat16, float32 or float64"):
        emulated.linear(x.to(torch.float8_e4m3fn), w.to(torch.float8_e4m3fn), None, "identity")
    with pytest.raises(ValueError, match="argument 'grad_out' must have the output's shape"):
        emulated.linear_backward(x, x, w, [True] * 3)
