"""Tolerances (dtype -> atol, rtol) for comparing our kernels with the reference.

One table for the tests, `zoo check` and the benchmark's correctness gate, so a
result that passes one passes all three. Whole models get a looser table: many
ops' last-bit differences compound through depth.
"""

import torch

OP_TOLERANCES = {
    torch.float64: (1e-10, 1e-7),
    torch.float32: (1e-5, 1.3e-5),
    torch.bfloat16: (1e-2, 1.6e-2),
    torch.float16: (1e-3, 1e-3),
}

MODEL_TOLERANCES = {
    torch.float64: (1e-8, 1e-7),
    torch.float32: (1e-4, 1e-4),
    torch.bfloat16: (5e-2, 5e-2),
    torch.float16: (1e-2, 1e-2),
}


def tolerance(dtype: torch.dtype, *, model: bool = False) -> tuple[float, float]:
    """(atol, rtol) for results in `dtype`; `model=True` for whole-model outputs."""
    table = MODEL_TOLERANCES if model else OP_TOLERANCES
    try:
        return table[dtype]
    except KeyError:
        raise ValueError(f"no tolerance is defined for dtype {dtype}; known: {list(table)}") from None
