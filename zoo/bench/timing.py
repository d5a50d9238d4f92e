"""Side-by-side timing: providers measured in alternating rounds in one process,
so drift in machine load hits both sides alike. torch.utils.benchmark handles
CUDA synchronisation and the thread count, which is the same for every provider.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Measurement:
    median: float  # seconds per call
    p20: float
    p80: float

    @classmethod
    def of(cls, times: list[float]) -> "Measurement":
        q = statistics.quantiles(times, n=5, method="inclusive") if len(times) > 1 else times * 4
        return cls(statistics.median(times), q[0], q[3])


def time_interleaved(
    providers: dict[str, Callable[[], object]], *, threads: int, rounds: int = 5, min_run_time: float = 0.05
) -> dict[str, Measurement]:
    """Per-call time of each provider, from `rounds` alternating blocked_autorange runs."""
    import torch.utils.benchmark as benchmark  # imported here: it pulls in cpp_extension, slow and noisy

    timers = {
        name: benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads) for name, fn in providers.items()
    }
    times: dict[str, list[float]] = {name: [] for name in providers}
    for fn in providers.values():  # warm-up: first-call allocation and dispatch caches
        fn()
    for _ in range(rounds):
        for name, timer in timers.items():
            times[name].extend(timer.blocked_autorange(min_run_time=min_run_time).times)
    return {name: Measurement.of(t) for name, t in times.items()}
