"""Runs a model with our kernels and with the PyTorch reference ops and compares the outputs.

Behind `zoo check NAME`, the registry-driven model tests and `zoo bench models`.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

import torch

import zoo
from zoo.ops import backend
from zoo.tolerances import tolerance


def flatten_tensors(output: Any) -> list[torch.Tensor]:
    """The tensors in a model output (a tensor, or nested tuples/lists/dicts of them)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in flatten_tensors(item)]
    return []


@dataclass
class CheckResult:
    name: str
    dtype: str
    max_abs: float
    max_rel: float
    atol: float
    rtol: float
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


def compare(ours: list[torch.Tensor], reference: list[torch.Tensor], atol: float, rtol: float) -> tuple[float, float, bool]:
    """(max abs diff, max rel diff, within |a-b| <= atol + rtol*|b| everywhere)."""
    if len(ours) != len(reference) or any(a.shape != b.shape for a, b in zip(ours, reference)):
        return float("inf"), float("inf"), False
    max_abs = max_rel = 0.0
    passed = True
    for a, b in zip(ours, reference):
        a, b = a.detach().double(), b.detach().double()
        diff = (a - b).abs()
        if diff.numel():
            max_abs = max(max_abs, diff.max().item())
            max_rel = max(max_rel, (diff / b.abs().clamp_min(1e-12)).max().item())
            passed &= bool((diff <= atol + rtol * b.abs()).all())
    return max_abs, max_rel, passed


def max_error(results: list[torch.Tensor], oracle: list[torch.Tensor]) -> float:
    """Largest |result - oracle| over all tensors, in float64."""
    if len(results) != len(oracle) or any(a.shape != b.shape for a, b in zip(results, oracle)):
        return float("inf")
    return max((float((a.detach().double() - b.detach().double()).abs().max()) for a, b in zip(results, oracle) if a.numel()), default=0.0)


def within_flash_rule(ours: list[torch.Tensor], theirs: list[torch.Tensor], oracle: list[torch.Tensor], atol: float) -> tuple[float, float, bool]:
    """flash-attention's rule: our error against a float64 oracle is at most twice
    PyTorch's own error in the same dtype (plus atol, for ops PyTorch gets exact).
    Right for reductions, where a fixed rtol punishes long sums that are as good as PyTorch's."""
    ours_err, theirs_err = max_error(ours, oracle), max_error(theirs, oracle)
    return ours_err, theirs_err, ours_err <= 2 * theirs_err + atol


def _float64(value: Any) -> Any:
    return value.double() if isinstance(value, torch.Tensor) and value.is_floating_point() else value


def agreement(name: str, candidate: list[torch.Tensor], baseline: list[torch.Tensor], baseline_model: torch.nn.Module,
              inputs: tuple) -> CheckResult:
    """Whether `candidate` outputs (of the model called `name`) on `inputs` agree with `baseline_model`'s, `baseline`.

    Outputs within the model tolerance pass. Deep networks at random initialisation
    can grow activations until float32 rounding alone exceeds it; those pass when
    the candidate's error against `baseline_model` run in float64 on the reference
    ops is at most twice the baseline's own (flash-attention's rule), which is what
    float32 can promise.
    """
    dtype = baseline[0].dtype if baseline else torch.float32
    atol, rtol = tolerance(dtype, model=True)
    max_abs, max_rel, passed = compare(candidate, baseline, atol, rtol)
    if not passed and dtype == torch.float32:
        with torch.no_grad(), backend("torch"):
            oracle = flatten_tensors(copy.deepcopy(baseline_model).double()(*map(_float64, inputs)))
        passed = within_flash_rule(candidate, baseline, oracle, atol)[2]
    return CheckResult(name, str(dtype).removeprefix("torch."), max_abs, max_rel, atol, rtol, passed)


def check_model(name: str, *, batch_size: int = 2, **config: Any) -> CheckResult:
    """Forward `name` on its example inputs with backend 'ext' and 'torch' and compare (see `agreement`)."""
    spec = zoo.info(name)
    torch.manual_seed(0)
    model = spec.build(**config)
    inputs = spec.example_inputs(batch_size, **config)
    with torch.no_grad():
        with backend("ext"):
            ours = flatten_tensors(model(*inputs))
        with backend("torch"):
            reference = flatten_tensors(model(*inputs))
    return agreement(name, ours, reference, model, inputs)
