"""What a benchmark case is: one op call at one shape, with our kernel, PyTorch's and a float64 oracle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class OpCase:
    family: str
    name: str
    make_inputs: Callable[[torch.device, torch.dtype], tuple]  # tensors first, then options
    zoo: Callable  # our op (run under backend "ext", or `zoo bench --backend auto`)
    torch: Callable  # what a PyTorch user would call
    reference: Callable  # the oracle, run on float64 copies of the inputs
    work: Callable[[str, torch.dtype], float]  # (direction, dtype) -> FLOPs (GFLOP/s) or bytes (GB/s)
    unit: str = "GFLOP/s"
