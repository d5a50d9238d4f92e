"""Shared fixtures: devices, an isolated plugin set, and throwaway plugin distributions."""

from __future__ import annotations

import itertools
import sys
import textwrap

import pytest
import torch

from zoo import plugins
from zoo.registry import Registry

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = [pytest.param("cpu"), pytest.param("cuda", marks=[CUDA, pytest.mark.cuda])]


def assert_compiles_and_exports(module: torch.nn.Module, x: torch.Tensor, *ops: str) -> None:
    """torch.compile(fullgraph=True) and torch.export of `module` equal eager on our kernels, and the
    exported graph calls each of `ops` (e.g. "zoo.linear.default")."""
    from zoo.ops import backend

    with backend("ext"):
        expected = module(x)
        torch.testing.assert_close(torch.compile(module, fullgraph=True)(x), expected)
        program = torch.export.export(module, (x,))
    graph = str(program.graph)
    assert all(op in graph for op in ops), graph
    torch.testing.assert_close(program.module()(x), expected)

def load_emulated(source: str, build_directory) -> object:
    """tests/ops/emulated/<source> built as a Python module: CUDA device code from csrc/ run on the host by
    tests/ops/emulated/cuda_emulation.h, for checking CUDA kernels on machines without a GPU."""
    from pathlib import Path

    from torch.utils.cpp_extension import load

    root = Path(__file__).parents[1]
    emulated = root / "tests" / "ops" / "emulated"
    return load(f"zoo_emulated_{Path(source).stem}", [str(emulated / source)],
                extra_include_paths=[str(root / "csrc"), str(emulated)], extra_cflags=["-O1", "-std=c++20"],
                build_directory=str(build_directory))


_counter = itertools.count()


@pytest.fixture
def plugin_set(monkeypatch):
    """An empty PluginSet installed as the process-wide one, so zoo.load & co. see only what a test adds."""
    isolated = plugins.PluginSet(Registry())
    monkeypatch.setattr(plugins, "_default", isolated)
    return isolated


@pytest.fixture
def make_distribution(tmp_path, monkeypatch):
    """Write a plugin distribution (module + dist-info with a zoo.plugins entry point) onto sys.path.

    Returns the entry-point name; module names are unique per call so imports never hit a stale cache.
    """

    def make(source: str, *, name: str | None = None, version: str = "1.0") -> str:
        n = next(_counter)
        dist = name or f"zoo-test-plugin-{n}"
        module = f"zoo_test_plugin_{n}"
        root = tmp_path / f"site{n}"
        root.mkdir()
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[zoo.plugins]\n{module} = {module}\n")
        monkeypatch.syspath_prepend(str(root))
        monkeypatch.delitem(sys.modules, module, raising=False)
        return module

    return make


@pytest.fixture(autouse=True)
def _hermetic_plugin_env(monkeypatch):
    """Tests set the plugin variables they need; the caller's shell does not leak in."""
    monkeypatch.delenv("ZOO_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("ZOO_LOAD_PLUGINS", raising=False)


# Property-based tests: 25 fixed examples (derandomized: CI is reproducible) by default;
# `pytest --hypothesis-profile=long` explores 500 fresh ones for nightly runs.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=25, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")
