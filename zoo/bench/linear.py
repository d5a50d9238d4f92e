"""Linear cases (M rows of x, K in_features, N out_features): the GEMMs of GPT-2 small and BERT-base.

A GPT-2 decoding step at batch 8 (M = 8: the fused qkv, the MLP and the tied
50257-word LM head), a 256-token prefill, and BERT-base at batch 8 x 128 tokens
(M = 1024: qkv, MLP up and down, the 30522-word masked-LM head). FLOPs: 2*M*K*N
forward; the backward (input and weight gradients) twice that, so fwd+bwd is 3x.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.bench.cases import OpCase
from zoo.ops.linear import linear, linear_reference

SHAPES = [(8, 768, 2304), (8, 768, 3072), (8, 3072, 768), (8, 768, 50257), (256, 768, 3072), (1024, 768, 2304),
          (1024, 768, 3072), (1024, 3072, 768), (1024, 768, 30522)]
QUICK_SHAPES = [(8, 768, 3072), (1024, 768, 3072)]


def _case(m: int, k: int, n: int) -> OpCase:
    def make_inputs(device, dtype):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(m, k, generator=g).to(device, dtype)
        w = (torch.randn(n, k, generator=g) / k**0.5).to(device, dtype)
        return x, w, torch.randn(n, generator=g).to(device, dtype)

    def flops(direction: str, dtype: torch.dtype) -> float:
        return 2 * m * k * n * (1 if direction == "fwd" else 3)

    return OpCase(family="linear", name=f"M{m} K{k} N{n}", make_inputs=make_inputs, zoo=linear, torch=F.linear,
                  reference=linear_reference, work=flops)


def cases(specs: list | None = None, quick: bool = False) -> list[OpCase]:
    """Cases from `specs` ([M, K, N] each), else the quick or full preset."""
    return [_case(*spec) for spec in (specs or (QUICK_SHAPES if quick else SHAPES))]
