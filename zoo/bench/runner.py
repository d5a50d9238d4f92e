"""Runs benchmark cases: each is checked against its oracle before it is timed.

A case whose result is off is reported as failed and not timed: a fast wrong
kernel is not a result.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch

import zoo
from zoo.bench.cases import OpCase
from zoo.bench.memory import peak_allocated_bytes, state_bytes
from zoo.bench.timing import time_interleaved
from zoo.check import within_flash_rule
from zoo.ops import backend
from zoo.ops.linear import linear
from zoo.tolerances import tolerance


def _differentiable(inputs: tuple) -> list[torch.Tensor]:
    return [t for t in inputs if isinstance(t, torch.Tensor) and t.is_floating_point()]


def _with_grad(inputs: tuple) -> tuple:
    return tuple(t.detach().requires_grad_() if isinstance(t, torch.Tensor) and t.is_floating_point() else t for t in inputs)


def _results(fn: Callable, inputs: tuple, direction: str, grad_seed: int = 1) -> list[torch.Tensor]:
    """The output, and for fwd+bwd the input gradients for a fixed random output gradient."""
    if direction == "fwd":
        with torch.no_grad():
            return [fn(*inputs)]
    inputs = _with_grad(inputs)
    out = fn(*inputs)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(grad_seed), dtype=torch.float64)
    grads = torch.autograd.grad(out, _differentiable(inputs), g.to(out.device, out.dtype))
    return [out, *grads]


def _timed_call(fn: Callable, inputs: tuple, direction: str) -> Callable[[], object]:
    if direction == "fwd":
        def run():
            with torch.no_grad():
                return fn(*inputs)
        return run
    inputs = _with_grad(inputs)
    leaves = _differentiable(inputs)
    grad = torch.ones_like(fn(*inputs))

    def run_fwd_bwd():
        return torch.autograd.grad(fn(*inputs), leaves, grad)
    return run_fwd_bwd


def run_op_case(case: OpCase, *, device: str, dtype: torch.dtype, direction: str, threads: int, rounds: int,
                mode: str = "ext") -> dict:
    """One op case, ours (under backend `mode`) against PyTorch's op, gated on the flash rule first."""
    row = {"kind": "op", "family": case.family, "case": case.name, "device": device,
           "dtype": str(dtype).removeprefix("torch."), "direction": direction, "unit": case.unit}
    try:
        with backend(mode):
            inputs = case.make_inputs(torch.device(device), dtype)
            ours = _results(case.zoo, inputs, direction)
            theirs = _results(case.torch, inputs, direction)
            oracle = _results(case.reference, tuple(t.double() if isinstance(t, torch.Tensor) else t for t in inputs), direction)
            atol, _ = tolerance(dtype)
            row["max_abs_err"], row["torch_max_abs_err"], passed = within_flash_rule(ours, theirs, oracle, atol)
            if not passed:
                row["status"] = "failed"
                return row
            timings = time_interleaved(
                {"zoo": _timed_call(case.zoo, inputs, direction), "torch": _timed_call(case.torch, inputs, direction)},
                threads=threads, rounds=rounds,
            )
    except Exception as error:  # a broken case is a row, not a crashed run
        row.update(status="error", error=f"{type(error).__name__}: {error}")
        return row
    row["status"] = "ok"
    _add_timings(row, timings)
    row["throughput"] = case.work(direction, dtype) / timings["zoo"].median / 1e9
    return row


def _add_timings(row: dict, timings: dict) -> None:
    z, t = timings["zoo"], timings["torch"]
    row.update(
        zoo_ms=z.median * 1e3, zoo_p20_ms=z.p20 * 1e3, zoo_p80_ms=z.p80 * 1e3,
        torch_ms=t.median * 1e3, torch_p20_ms=t.p20 * 1e3, torch_p80_ms=t.p80 * 1e3,
        speedup=t.median / z.median,
        # the spread of the ratio from the p20/p80 of each side
        speedup_lo=t.p20 / z.p80, speedup_hi=t.p80 / z.p20,
    )


def measure_peak_gflops(device: str, threads: int, dtype: torch.dtype = torch.float32) -> tuple[float, str]:
    """The machine's practical peak in `dtype` and how it was measured: the faster of PyTorch's BLAS and
    our GEMM (CPU) on a square product, at its fastest (p20) time. BLAS alone can sit far below the
    hardware (MKL on AMD EPYC: 100 of about 220 GFLOP/s), which would put good kernels above 100%.
    On CUDA the product is 8192^3, as a 2048^3 one leaves tensor cores idle part of the time.

    A practical peak, below the datasheet's: fused kernels can still exceed 100% of it.
    """
    n = 8192 if device == "cuda" else 2048
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    b_t = b.t().contiguous()
    candidates = {"torch": lambda: a @ b}
    if device == "cpu" and zoo.ops.extension_status().loaded:
        candidates["zoo"] = lambda: linear(a, b_t)
    with backend("auto"):
        timings = time_interleaved(candidates, threads=threads, rounds=2)
    dtype_name = str(dtype).removeprefix("torch.")
    return (2 * n**3 / min(t.p20 for t in timings.values()) / 1e9,
            f"measured: best {n}^3 {dtype_name} GEMM ({', '.join(candidates)})")


def run_model(name: str, *, batch_size: int, threads: int, rounds: int, mode: str = "ext") -> dict:
    """Latency, throughput and peak memory (weights + the forward's high-water mark) of one model,
    under backend `mode` (our kernels) vs the reference backend."""
    row = {"kind": "model", "family": "model", "case": name, "device": "cpu", "dtype": "float32",
           "direction": "fwd", "unit": "samples/s", "batch_size": batch_size}
    try:
        from zoo.check import check_model

        result = check_model(name, batch_size=batch_size)
        row["max_abs_err"] = result.max_abs
        if not result.passed:
            row["status"] = "failed"
            return row
        spec = zoo.info(name)
        model = spec.build()
        inputs = spec.example_inputs(batch_size)

        def under(mode):
            def run():
                with torch.no_grad(), backend(mode):
                    return model(*inputs)
            return run

        timings = time_interleaved({"zoo": under(mode), "torch": under("torch")}, threads=threads, rounds=rounds)
        weights = state_bytes(model)
        row["zoo_peak_mb"] = (weights + peak_allocated_bytes(under(mode))) / 2**20
        row["torch_peak_mb"] = (weights + peak_allocated_bytes(under("torch"))) / 2**20
    except Exception as error:
        row.update(status="error", error=f"{type(error).__name__}: {error}")
        return row
    row["status"] = "ok"
    _add_timings(row, timings)
    row["throughput"] = batch_size / timings["zoo"].median
    return row


def run_peer(name: str, *, batch_size: int, threads: int, rounds: int) -> dict:
    """One model against the library it comes from, same weights, same workload (ModelSpec.peer)."""
    row = {"kind": "peer", "family": "peer", "case": name, "device": "cpu", "dtype": "float32", "direction": "fwd",
           "batch_size": batch_size}
    try:
        run = zoo.info(name).peer(batch_size)
        row.update(case=f"{name} vs {run.label}", unit=run.unit)
        timings = time_interleaved({"zoo": run.ours, "torch": run.theirs}, threads=threads, rounds=rounds)
    except Exception as error:  # a missing peer library or a mismatch is a row, not a crashed run
        row.update(status="error", error=f"{type(error).__name__}: {error}")
        return row
    row["status"] = "ok"
    _add_timings(row, timings)
    row["throughput"] = run.units / timings["zoo"].median
    return row


def run_all(jobs: Iterable[Callable[[], dict]], total: int, progress: bool = True) -> list[dict]:
    """Run benchmark jobs in order with a progress bar."""
    from rich.progress import Progress

    rows = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("benchmarking", total=total)
        for job in jobs:
            rows.append(job())
            bar.advance(task)
    return rows
