"""The backend switch: auto/ext/torch, the context manager, and life without zoo._C."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest
import torch

import zoo
from zoo.ops import backend, bias_act, current


def run_python(code: str, *, hide_extension: bool = False, fake_version: str | None = None, **env: str):
    """Run `code` in a fresh interpreter, optionally with zoo._C missing or built for another torch."""
    prelude = ""
    if hide_extension:
        prelude = "import sys; sys.modules['zoo._C'] = None\n"  # import of zoo._C raises ImportError
    if fake_version:
        prelude = (
            "import sys, types\n"
            f"sys.modules['zoo._C'] = types.SimpleNamespace(torch_version={fake_version!r}, cpu_isa='default', cuda_compiled=False)\n"
        )
    environment = {k: v for k, v in os.environ.items() if k != "ZOO_KERNELS"} | env
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, env=environment, timeout=300)


CALL_TWICE = """
    import warnings, torch, zoo
    from zoo.ops import bias_act, bias_act_reference
    warnings.simplefilter("always")
    x, b = torch.randn(4, 3), torch.randn(3)
    with warnings.catch_warnings(record=True) as caught:
        y = bias_act(x, b, "gelu", 1); bias_act(x, b, "gelu", 1)
    assert torch.equal(y, bias_act_reference(x, b, "gelu", 1))
    print(len(caught)); print(caught[0].message if caught else "")
"""


def test_torch_backend_works_without_the_extension_and_never_imports_it():
    code = """
        import sys, torch, zoo
        from zoo.ops import bias_act, bias_act_reference, _extension
        x, b = torch.randn(4, 3), torch.randn(3)
        assert torch.equal(bias_act(x, b, "silu", 1), bias_act_reference(x, b, "silu", 1))
        assert _extension._status is None, "zoo._C was loaded although ZOO_KERNELS=torch"
        print("ok")
    """
    result = run_python(code, hide_extension=True, ZOO_KERNELS="torch", PYTHONWARNINGS="error")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_auto_falls_back_with_one_warning_that_says_how_to_fix_it():
    result = run_python(CALL_TWICE, hide_extension=True)
    assert result.returncode == 0, result.stderr
    count, message = result.stdout.strip().split("\n", 1)
    assert count == "1"
    assert "zoo._C could not be imported" in message and "pip install --no-build-isolation -e ." in message


def test_auto_refuses_an_extension_built_for_another_torch():
    result = run_python(CALL_TWICE, fake_version="0.0.1")
    assert result.returncode == 0, result.stderr
    assert "built against torch 0.0.1" in result.stdout


def test_ext_mode_without_the_extension_is_an_actionable_error():
    code = """
        import torch, zoo
        try:
            zoo.ops.bias_act(torch.randn(2, 2), None, "relu", 1)
        except zoo.ops.ExtensionUnavailableError as e:
            print(e)
    """
    result = run_python(code, hide_extension=True, ZOO_KERNELS="ext")
    assert "ZOO_KERNELS=ext but zoo._C could not be imported" in result.stdout, result.stderr


def test_invalid_environment_value_is_named(monkeypatch):
    monkeypatch.setenv("ZOO_KERNELS", "cuda")
    with pytest.raises(ValueError, match="ZOO_KERNELS must be one of auto, ext, torch"):
        current()


def test_context_manager_nests_restores_and_validates(monkeypatch):
    monkeypatch.setenv("ZOO_KERNELS", "auto")
    with backend("torch"):
        assert current() == "torch"
        with backend("ext"):
            assert current() == "ext"
        assert current() == "torch"
    assert current() == "auto"
    with pytest.raises(ValueError, match="backend name must be one of"):
        with backend("fast"):
            pass


def test_backend_choice_is_per_thread():
    seen = []
    with backend("torch"):
        thread = threading.Thread(target=lambda: seen.append(current()))
        thread.start()
        thread.join()
    assert seen == ["auto"]


def test_backends_give_the_same_numbers():
    x, b = torch.randn(16, 32, dtype=torch.float64), torch.randn(32, dtype=torch.float64)
    with backend("ext"):
        ours = bias_act(x, b, "gelu_tanh", -1)
    with backend("torch"):
        reference = bias_act(x, b, "gelu_tanh", -1)
    torch.testing.assert_close(ours, reference, atol=1e-12, rtol=1e-12)


def test_extension_status_reports_build_facts():
    status = zoo.ops.extension_status()
    assert status.loaded, status.error
    assert status.module.torch_version == torch.__version__.split("+")[0]
    assert "cpu" in status.device_types


def test_an_op_without_a_kernel_for_the_device_falls_back_or_raises(monkeypatch):
    import importlib
    import warnings

    from zoo.ops import use_extension

    backend_module = importlib.import_module("zoo.ops.backend")  # zoo.ops.backend is also the function
    monkeypatch.setattr(backend_module, "_warned", set())
    with backend("ext"), pytest.raises(zoo.ops.ExtensionUnavailableError, match="no attention kernel for device type 'cpu'"):
        use_extension(torch.device("cpu"), op="attention", kernel_devices=("cuda",))
    with backend("auto"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not use_extension(torch.device("cpu"), op="attention", kernel_devices=("cuda",))
        assert not use_extension(torch.device("cpu"), op="attention", kernel_devices=("cuda",))
    assert len(caught) == 1 and "no attention kernel" in str(caught[0].message)


def test_a_kernel_slower_than_torch_on_a_device_runs_only_in_ext_mode(monkeypatch):
    import importlib
    import warnings

    from zoo.ops.backend import use_kernel

    backend_module = importlib.import_module("zoo.ops.backend")
    monkeypatch.setattr(backend_module, "_warned", set())
    x = torch.randn(2)
    with backend("ext"):
        assert use_kernel(x, op="attention", kernel_devices=("cpu",), ext_only_devices=("cpu",))
    with backend("torch"):
        assert not use_kernel(x, op="attention", kernel_devices=("cpu",), ext_only_devices=("cpu",))
    with backend("auto"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not use_kernel(x, op="attention", kernel_devices=("cpu",), ext_only_devices=("cpu",))
        assert use_kernel(x, op="attention", kernel_devices=("cpu",))
    assert len(caught) == 1 and "is slower there than PyTorch's ops" in str(caught[0].message)
