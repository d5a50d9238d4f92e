"""bias_act cases: the epilogue shapes our layers produce (conv NCHW outputs, linear rows)."""

from __future__ import annotations

import torch

from zoo.bench.cases import OpCase
from zoo.ops.bias_act import bias_act, bias_act_reference

# (shape, dim): conv outputs with the bias on channels, linear outputs with it last.
SHAPES = [
    ((8, 64, 56, 56), 1),
    ((8, 256, 14, 14), 1),
    ((4096, 3072), -1),
    ((16, 197, 768), -1),
]
QUICK_SHAPES = [((8, 64, 56, 56), 1), ((4096, 768), -1)]
ACTS = ("relu", "gelu", "silu")
QUICK_ACTS = ("gelu",)


def _case(shape, dim, act) -> OpCase:
    numel = 1
    for s in shape:
        numel *= s

    def make_inputs(device, dtype):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(shape, generator=g).to(device, dtype)
        b = torch.randn(shape[dim], generator=g).to(device, dtype)
        return x, b, act, dim

    def bytes_moved(direction: str, dtype: torch.dtype) -> float:
        # forward reads x and writes y; backward reads grad and x and writes grad_x.
        passes = 2 if direction == "fwd" else 5
        return passes * numel * dtype.itemsize

    return OpCase(
        family="bias_act",
        name=f"{act} {tuple(shape)} dim={dim}",
        make_inputs=make_inputs,
        zoo=bias_act,
        torch=bias_act_reference,
        reference=bias_act_reference,
        work=bytes_moved,
        unit="GB/s",
    )


def cases(specs: list | None = None, quick: bool = False) -> list[OpCase]:
    """Cases from `specs` ([shape, dim, act] each), else the quick or full preset."""
    if specs:
        return [_case(tuple(shape), dim, act) for shape, dim, act in specs]
    shapes = QUICK_SHAPES if quick else SHAPES
    acts = QUICK_ACTS if quick else ACTS
    return [_case(shape, dim, act) for shape, dim in shapes for act in acts]
