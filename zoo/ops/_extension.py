"""Loads the compiled extension zoo._C once, and says exactly why when it cannot.

Op modules register their Python halves (fake kernels) with
`on_load`; those run right after zoo._C is imported, because torch.library can
only attach them to ops the extension has defined.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

import torch

REBUILD_HINT = (
    "rebuild it against the installed torch with "
    "`pip install --no-build-isolation -e .` in the zoo checkout, "
    "or set ZOO_KERNELS=torch to use the PyTorch reference ops"
)


@dataclass(frozen=True)
class ExtensionStatus:
    module: ModuleType | None
    error: str | None

    @property
    def loaded(self) -> bool:
        return self.module is not None

    @property
    def cuda_compiled(self) -> bool:
        return bool(self.module is not None and self.module.cuda_compiled)

    @property
    def device_types(self) -> tuple[str, ...]:
        """Device types our kernels run on ('meta' is served by the fake kernels)."""
        if self.module is None:
            return ()
        return ("cpu", "meta") + (("cuda",) if self.cuda_compiled else ())


_lock = threading.RLock()
_status: ExtensionStatus | None = None
_on_load: list[Callable[[], None]] = []


def on_load(fn: Callable[[], None]) -> Callable[[], None]:
    """Run `fn` once zoo._C is loaded (now, if it already is)."""
    with _lock:
        _on_load.append(fn)
        if _status is not None and _status.loaded:
            fn()
    return fn


def _torch_release(version: str) -> str:
    return version.split("+")[0]


def _import() -> ExtensionStatus:
    try:
        from zoo import _C
    except ImportError as e:
        return ExtensionStatus(None, f"zoo._C could not be imported ({e}); {REBUILD_HINT}")
    built, running = _C.torch_version, _torch_release(torch.__version__)
    if built != running:
        return ExtensionStatus(
            None, f"zoo._C was built against torch {built} but torch {running} is installed; {REBUILD_HINT}"
        )
    running_isas = {"AVX512": ("avx512", "avx2", "default"), "AVX2": ("avx2", "default")}
    if _C.cpu_isa not in running_isas.get(torch.backends.cpu.get_cpu_capability(), ("default",)):
        return ExtensionStatus(
            None,
            f"zoo._C was built for {_C.cpu_isa.upper()} but this CPU runs "
            f"{torch.backends.cpu.get_cpu_capability()}; rebuild on this machine or with "
            f"ZOO_CPU_ISA=default: {REBUILD_HINT}",
        )
    return ExtensionStatus(_C, None)


def status() -> ExtensionStatus:
    """The extension's load status, importing it on first call."""
    global _status
    if _status is not None:  # lock-free once loaded: the hot path, and traceable by torch.compile
        return _status
    with _lock:  # held while registering, so no thread sees ops without their fake kernels
        if _status is None:
            loaded = _import()
            if loaded.loaded:
                for fn in _on_load:
                    fn()
            _status = loaded
        return _status
