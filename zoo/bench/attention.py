"""Attention cases: the shapes named in the attention issue (B, H, Lq, Lk, D, causal), decode included.

FLOPs as flash-attention counts them: 4*B*H*Lq*Lk*D forward, halved when causal;
the backward is 2.5x the forward, so fwd+bwd is 3.5x.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.bench.cases import OpCase
from zoo.ops.attention import scaled_dot_product_attention, scaled_dot_product_attention_reference

SHAPES = [
    (8, 8, 128, 128, 64, False),
    (4, 8, 512, 512, 64, False),
    (1, 8, 2048, 2048, 64, True),
    (2, 12, 1024, 1024, 64, True),
    (16, 32, 1, 4096, 128, False),  # decode against a KV cache
]
QUICK_SHAPES = [(8, 8, 128, 128, 64, False), (2, 12, 256, 256, 64, True), (4, 8, 1, 1024, 64, False)]


def _case(b, h, lq, lk, d, causal) -> OpCase:
    def make_inputs(device, dtype):
        g = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(b, h, n, d, generator=g).to(device, dtype) for n in (lq, lk, lk))
        return q, k, v, None, 0.0, causal

    def flops(direction: str, dtype: torch.dtype) -> float:
        forward = 4 * b * h * lq * lk * d / (2 if causal else 1)
        return forward if direction == "fwd" else 3.5 * forward

    return OpCase(
        family="attention",
        name=f"B{b} H{h} Lq{lq} Lk{lk} D{d}{' causal' if causal else ''}",
        make_inputs=make_inputs,
        zoo=scaled_dot_product_attention,
        torch=F.scaled_dot_product_attention,
        reference=scaled_dot_product_attention_reference,
        work=flops,
    )


def cases(specs: list | None = None, quick: bool = False) -> list[OpCase]:
    """Cases from `specs` ([B, H, Lq, Lk, D, causal] each), else the quick or full preset."""
    return [_case(*spec) for spec in (specs or (QUICK_SHAPES if quick else SHAPES))]
