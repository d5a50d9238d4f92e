"""Peak memory of one call on the CPU.

PyTorch has no CPU counterpart of `torch.cuda.max_memory_allocated`, but its
profiler records every allocation and free of the CPU allocator in order; a
running sum over them gives the high-water mark, our kernels' scratch buffers
included.
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator

import torch


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the profiler's C++ start/stop log lines, written straight to fd 2."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_allocated_bytes(fn: Callable[[], object]) -> int:
    """The most bytes that `fn()` held allocated at once, above what was live before it (its result included)."""
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def state_bytes(model: torch.nn.Module) -> int:
    """Bytes held by a model's parameters and buffers, counting shared tensors once."""
    tensors = {t.data_ptr(): t for t in (*model.parameters(), *model.buffers())}
    return sum(t.numel() * t.element_size() for t in tensors.values())
