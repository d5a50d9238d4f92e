"""Chooses, per call, between our compiled kernels and the reference: PyTorch's own ops.

The reference backend runs each op as PyTorch would, fused where PyTorch fuses it
(F.conv*, F.linear, F.scaled_dot_product_attention, torch.lstm/gru: cuDNN, cuBLAS and
flash attention on CUDA), so falling back never costs more than not using zoo.

  ZOO_KERNELS=auto   (default) our kernels where zoo._C is loaded and supports the
                     tensor's device; otherwise the reference, with one warning
                     that says why and how to fix it.
  ZOO_KERNELS=ext    our kernels or an error (for benchmarks and CI).
  ZOO_KERNELS=torch  the reference everywhere; zoo._C is never imported.

`backend("torch")` overrides the environment for a block of code, per thread.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import warnings
from typing import Callable, Iterator

import torch

from zoo.ops import _extension

BACKENDS = ("auto", "ext", "torch")
ENV_VAR = "ZOO_KERNELS"


class ExtensionUnavailableError(RuntimeError):
    """Raised in `ext` mode when our kernels cannot serve a call."""


class KernelFallbackWarning(RuntimeWarning):
    """Emitted once per reason when `auto` falls back to the reference ops."""


_local = threading.local()
_warned: set[str] = set()


def _validate(name: str, source: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"{source} must be one of {', '.join(BACKENDS)}; got {name!r}")
    return name


def current() -> str:
    """The backend in force: the innermost `backend(...)` block, else $ZOO_KERNELS, else auto."""
    override = getattr(_local, "backend", None)
    if override is not None:
        return override
    return _validate(os.environ.get(ENV_VAR, "auto") or "auto", ENV_VAR)


@contextlib.contextmanager
def backend(name: str) -> Iterator[None]:
    """Use backend `name` ('auto', 'ext' or 'torch') inside the block, in this thread."""
    _validate(name, "backend name")
    previous = getattr(_local, "backend", None)
    _local.backend = name
    try:
        yield
    finally:
        _local.backend = previous


def _warn_once(reason: str) -> None:
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(f"zoo: using the PyTorch reference ops: {reason}", KernelFallbackWarning, stacklevel=4)


KERNEL_CPU_DTYPES = (torch.float32, torch.float64)  # what our CPU kernels compute in


def use_kernel(x: torch.Tensor, *, op: str, kernel_devices: tuple[str, ...],
               ext_only_devices: tuple[str, ...] = (),
               reference_is_faster: Callable[[], bool] | None = None) -> bool:
    """use_extension for x's device, and on the CPU only for KERNEL_CPU_DTYPES (other dtypes take the reference).

    `ext_only_devices`: where the kernel passes its tests but is measured slower than PyTorch's
    own ops; `auto` keeps those on the reference (warning once), `ext` runs the kernel.
    `reference_is_faster`: the op's measured rule for this call (e.g. linear on an Intel CPU's MKL);
    where it holds, `auto` runs the reference silently. Asked only under `auto`.
    """
    mode, device_type = current(), x.device.type  # once per call: each costs a microsecond, on every op of a model
    if device_type in ext_only_devices and mode == "auto":
        _warn_once(f"zoo's {op} kernel for '{device_type}' is slower there than PyTorch's ops "
                   f"({ENV_VAR}=ext runs it)")
        return False
    if mode == "auto" and reference_is_faster is not None and reference_is_faster():
        return False
    return _serves(mode, device_type, op, kernel_devices) and (device_type != "cpu" or x.dtype in KERNEL_CPU_DTYPES)


@functools.cache
def cpuinfo(path: str = "/proc/cpuinfo") -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo ('vendor_id', 'cpu family', 'model name', ...),
    {} where there is no such file."""
    try:
        with open(path) as file:
            first_processor = file.read().split("\n\n", 1)[0]
    except OSError:
        return {}
    fields = (line.partition(":") for line in first_processor.splitlines())
    return {key.strip(): value.strip() for key, colon, value in fields if colon}


def cpu_vendor() -> str:
    """The CPU's vendor id ('GenuineIntel', 'AuthenticAMD'), '' where unknown: PyTorch's CPU GEMM is
    MKL, whose fastest code runs on Intel's CPUs only."""
    return cpuinfo().get("vendor_id", "")


def wants_grad(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd will record a call on `tensors` (ops then keep what their backward needs)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def use_extension(device: torch.device, *, op: str = "", kernel_devices: tuple[str, ...] | None = None) -> bool:
    """Whether an op on `device` should run our kernel (True) or the reference (False).

    `kernel_devices` narrows the extension's device types for an op whose kernels
    do not cover them all yet (e.g. no CUDA kernel).
    """
    return _serves(current(), device.type, op, kernel_devices)


def _serves(mode: str, device_type: str, op: str, kernel_devices: tuple[str, ...] | None) -> bool:
    """use_extension under backend `mode`."""
    if mode == "torch":
        return False
    status = _extension.status()
    if not status.loaded:
        if mode == "ext":
            raise ExtensionUnavailableError(f"{ENV_VAR}=ext but {status.error}")
        _warn_once(status.error)
        return False
    if device_type in status.device_types and (kernel_devices is None or device_type in kernel_devices):
        return True
    served = tuple(d for d in status.device_types if kernel_devices is None or d in kernel_devices)
    built_without = kernel_devices is None or device_type in kernel_devices  # the kernel exists, the build lacks it
    reason = (
        f"zoo._C has no {op + ' ' if op else ''}kernel for device type '{device_type}' "
        f"(it serves {', '.join(served)}"
        + ("; CUDA kernels need a build with a CUDA toolkit)" if built_without else ")")
    )
    if mode == "ext":
        raise ExtensionUnavailableError(f"{ENV_VAR}=ext but {reason}")
    _warn_once(reason)
    return False
