"""The CUDA attention kernels' device code (csrc/attention/attention_cuda_kernels.cuh) run on the host
by tests/ops/emulated/cuda_emulation.h, since CI has no GPU: out and every gradient against the float64
reference by the flash rule, on the tensor-core path (fp16/bf16) and the CUDA-core one (fp32/fp64), at
several tile sizes. What it cannot see: the hardware's own WMMA layouts, launch limits, timing."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.check import within_flash_rule
from zoo.ops import scaled_dot_product_attention_reference as reference
from zoo.tolerances import tolerance

from ..conftest import load_emulated
from .test_attention import CASES, make, run


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    return load_emulated("attention.cpp", tmp_path_factory.mktemp("emulated"))


def emulated_attention(emulated, tile, register_tiles):
    """scaled_dot_product_attention on the emulated kernels, with their backward, as the op's autograd calls it;
    register_tiles: the mma.sync kernels (half types, head dims up to 128) where they apply."""

    class Attention(torch.autograd.Function):
        @staticmethod
        def forward(ctx, q, k, v, mask, is_causal):
            scale = 1 / math.sqrt(q.shape[-1])
            out, lse = emulated.forward(q, k, v, mask, is_causal, scale, tile, register_tiles)
            ctx.save_for_backward(q, k, v, out, lse)
            ctx.mask, ctx.is_causal, ctx.scale = mask, is_causal, scale
            return out

        @staticmethod
        def backward(ctx, grad):
            q, k, v, out, lse = ctx.saved_tensors
            grads = emulated.backward(grad, q, k, v, ctx.mask, out, lse, ctx.is_causal, ctx.scale, tile, register_tiles)
            return (*grads, None, None)

    def attention(q, k, v, attn_mask=None, is_causal=False, enable_gqa=False):
        mask = None if attn_mask is None else attn_mask.expand(*q.shape[:-1], k.shape[-2])
        return Attention.apply(q, k, v, mask, is_causal)

    return attention


HALF_TYPES = [torch.float16, torch.bfloat16]
# (dtype, largest shared-memory tile, register tiles): the mma.sync kernels exist for half types only
KERNELS = [(dtype, tile, False) for dtype in [torch.float32, torch.float64, *HALF_TYPES] for tile in (16, 64)]
KERNELS += [(dtype, 64, True) for dtype in HALF_TYPES]
# plus head dims that are no whole 16-byte chunks, which the register-tile kernels read an element at a time
EMULATED_CASES = [*CASES, (1, 2, 1, 19, 75, 12, 20, False, "bool")]


@pytest.mark.parametrize(("dtype", "tile", "register_tiles"), KERNELS,
                         ids=lambda x: str(x) if isinstance(x, torch.dtype) else repr(x))
@pytest.mark.parametrize("case", EMULATED_CASES, ids=str)
def test_emulated_cuda_kernels_match_float64_reference(emulated, case, dtype, tile, register_tiles):
    q, k, v, kw = make(case, "cpu", dtype)
    # (B, L, H, D) storage behind (B, H, L, D) shapes: the kernels read any strides
    q, k, v = (t.transpose(1, 2).contiguous().transpose(1, 2) for t in (q, k, v))
    grad = torch.randn(*q.shape[:-1], v.shape[-1], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ours = run(emulated_attention(emulated, tile, register_tiles), q, k, v, kw, grad.to(dtype))
    theirs = run(reference, q, k, v, kw, grad.to(dtype))
    mask = kw["attn_mask"]
    kw64 = dict(kw, attn_mask=mask.double() if mask is not None and mask.is_floating_point() else mask)
    oracle = run(reference, q.double(), k.double(), v.double(), kw64, grad)
    atol, _ = tolerance(dtype)
    ours_err, theirs_err, ok = within_flash_rule(ours, theirs, oracle, atol)
    assert ok, f"{case}: our error {ours_err:.3g} > 2 x PyTorch's {theirs_err:.3g} + {atol}"
