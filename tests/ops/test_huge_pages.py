"""Large CPU outputs of our kernels are advised to transparent huge pages (csrc/common/huge_pages.h).

The kernel records the advice as the `hg` flag of the memory's mapping in /proc/self/smaps whether
or not a huge page is then free, so the flag is a deterministic oracle where THP exists at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo.ops

HUGE_PAGE = 2 << 20
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
pytestmark = pytest.mark.skipif(not THP.exists() or "[never]" in THP.read_text(),
                                reason="needs Linux with transparent huge pages not set to never")

# Prints whether a 36 MiB zoo.ops.linear output lies in a mapping flagged `hg` (at its first 2 MiB-aligned
# address: the kernel advises the aligned interior), and then whether a 16 MiB one does (at its start):
# outputs under 32 MiB come from glibc's heap and are not advised.
PROBE = """
import torch, zoo.ops
from zoo.ops import backend
def advised(t):
    aligned = (t.data_ptr() + {huge} - 1) // {huge} * {huge}
    address = aligned if aligned + {huge} <= t.data_ptr() + t.nbytes else t.data_ptr()
    flags, inside = "", False
    for line in open("/proc/self/smaps"):
        first = line.split()[0]
        if "-" in first and not first.endswith(":"):
            start, end = (int(x, 16) for x in first.split("-"))
            inside = start <= address < end
        elif inside and line.startswith("VmFlags:"):
            flags = line.split()[1:]
    return "hg" in flags
with backend("ext"):
    w = torch.randn(4096, 256)
    print(advised(zoo.ops.linear(torch.randn(2304, 256), w)), advised(zoo.ops.linear(torch.randn(1024, 256), w)))
""".format(huge=HUGE_PAGE)


def _probe(**env) -> list[str]:
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300,
                         env={**os.environ, **env})
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_large_outputs_are_advised_and_small_ones_are_not():
    assert _probe() == ["True", "False"]


def test_zoo_huge_pages_0_turns_the_advice_off():
    assert _probe(ZOO_HUGE_PAGES="0") == ["False", "False"]


def test_advised_outputs_hold_the_right_values():
    """The advice changes where the pages come from, never what the kernel writes."""
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(2304, 256, generator=g), torch.randn(4096, 256, generator=g)
    with zoo.ops.backend("ext"):
        out = zoo.ops.linear(x, w)
    assert out.nbytes >= 32 << 20
    torch.testing.assert_close(out.double(), x.double() @ w.double().T, rtol=1e-4, atol=1e-3)
