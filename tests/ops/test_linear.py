"""linear: our kernels against the float64 PyTorch reference, gradcheck, opcheck, compile, errors, nn.Linear."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from zoo.check import within_flash_rule
from zoo.nn import Linear, LinearAct
from zoo.ops import ACTIVATIONS, backend, linear, linear_reference
from zoo.tolerances import tolerance

from ..conftest import CUDA, DEVICES, assert_compiles_and_exports

# (x shape, out_features): both kernel paths (up to 8 rows, or 64 rows of at least 512 features, in
# at most 1 MiB take the dot-product path; the rest the packed GEMM), odd sizes that leave partial
# vectors, tiles and panels, depth past one 256-deep block, one row, 3-D input, and the empty cases.
# The backward's GEMMs read g^T in place (packed per row block); (200, 1100) x 1030 takes them past
# one 1024-deep chunk of K and one group of panels (half the L2, as there are several row blocks),
# and (80, 1100) x 600 past one 4 MiB group in float64 (one row block); g^T, packed, takes 4 MiB
# groups too, and (1100, 600) x 20's weight gradient passes two of them in float64, in two chunks.
SHAPES = [
    ((1, 1), 1),
    ((1, 200), 37),  # dot path, one row: 1 x 16 tiles, a partial tile of W's rows
    ((2, 70), 19),  # dot path, two rows: 2 x 8 tiles
    ((7, 97), 33),  # dot path: 4 + 2 + 1 rows
    ((2, 5, 64), 130),  # 10 shallow rows: packed path
    ((3, 1029), 5),
    ((61, 517), 45),  # deep rows: dot path
    ((301, 517), 45),  # 301 rows: packed path
    ((1100, 300), 70),
    ((200, 1100), 1030),
    ((80, 1100), 600),
    ((1100, 600), 20),
    ((0, 8), 4),
    ((5, 0), 3),
    ((4, 6), 0),
]


def sample_inputs(device, dtype=torch.float64, requires_grad=False):
    """(x, weight, bias, act) tuples covering both kernel paths, every activation and the layouts."""
    g = torch.Generator().manual_seed(0)

    def t(*shape):  # drawn in float64 so both dtypes see the same values
        return torch.randn(shape, generator=g, dtype=torch.float64).to(device, dtype).requires_grad_(requires_grad)

    for i, (shape, n) in enumerate(SHAPES):
        act = list(ACTIVATIONS)[i % len(ACTIVATIONS)]
        yield t(*shape), t(n, shape[-1]), t(n), act
        yield t(*shape), t(n, shape[-1]), None, "identity"
    yield t(9, 6).t(), t(4, 9), t(4), "gelu"  # non-contiguous x
    yield t(300, 40)[:, ::2], t(7, 20), t(7), "relu"  # strided x
    yield t(5, 12), t(12, 5).t(), None, "silu"  # transposed weight


def _ids(samples):
    return [f"{tuple(x.shape)}x{tuple(w.shape)}-{act}" for x, w, _, act in samples]


def _run(fn, x, weight, bias, act, grad):
    leaves = [t.detach().requires_grad_() for t in (x, weight, bias) if t is not None]
    x, weight, bias = leaves[0], leaves[1], leaves[2] if bias is not None else None
    y = fn(x, weight, bias, act)
    if not y.numel() and not x.numel() and not weight.numel():
        return [y]
    return [y, *torch.autograd.grad(y, leaves, grad, allow_unused=True)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_float64_reference(device, dtype):
    assert_matches_float64_reference(device, dtype)


@CUDA
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_cuda_tensor_core_path_matches_float64_reference(dtype):
    assert_matches_float64_reference("cuda", dtype)


def assert_matches_float64_reference(device, dtype, ours_linear=linear):
    """Forward and gradients of `ours_linear` (zoo.ops.linear in `ext` mode) against float64 over the samples:
    error at most twice PyTorch's own in the same dtype."""
    atol, _ = tolerance(dtype)
    for x, weight, bias, act in sample_inputs(device, dtype):
        n = weight.shape[0]
        grad = torch.randn((*x.shape[:-1], n), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        with backend("ext"):
            ours = _run(ours_linear, x, weight, bias, act, grad.to(device, dtype))
        theirs = _run(linear_reference, x, weight, bias, act, grad.to(device, dtype))
        oracle = _run(linear_reference, x.double(), weight.double(), None if bias is None else bias.double(), act,
                      grad.to(device))
        assert [t.shape for t in ours] == [t.shape for t in oracle]
        ours_err, theirs_err, ok = within_flash_rule(ours, theirs, oracle, atol)
        assert ok, f"{tuple(x.shape)}x{tuple(weight.shape)} {act}: error {ours_err:.3g} > 2 x PyTorch's {theirs_err:.3g}"


def test_the_fused_activation_is_applied_in_the_kernel():
    """Without gradients the op itself applies the activation (the epilogue), on both kernel paths."""
    g = torch.Generator().manual_seed(2)
    for rows in (3, 2000):  # dot path, packed path
        x, w, b = torch.randn(rows, 200, generator=g), torch.randn(50, 200, generator=g), torch.randn(50, generator=g)
        with torch.no_grad(), backend("ext"):
            fused = torch.ops.zoo.linear.default(x, w, b, "gelu")
        expected = linear_reference(x.double(), w.double(), b.double(), "gelu")
        torch.testing.assert_close(fused.double(), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_float64(device):
    with backend("ext"):
        for x, weight, bias, act in sample_inputs(device, requires_grad=True):
            if 0 < x.numel() * weight.shape[0] <= 4000 and act != "relu":  # relu's kink defeats finite differences
                assert torch.autograd.gradcheck(linear, (x, weight, bias, act)), (tuple(x.shape), act)


def test_gradcheck_of_the_op_with_a_fused_activation():
    """Direct calls of the op with an act: the backward recomputes the pre-activation."""
    g = torch.Generator().manual_seed(3)
    x, w, b = (torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in ((4, 6), (3, 6), (3,)))
    with backend("ext"):
        assert torch.autograd.gradcheck(torch.ops.zoo.linear.default, (x, w, b, "silu"))


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    for x, weight, bias, act in sample_inputs(device, torch.float32, requires_grad=True):
        torch.library.opcheck(torch.ops.zoo.linear.default, (x, weight, bias, act))


def test_torch_compile_fullgraph_and_export():
    assert_compiles_and_exports(nn.Sequential(LinearAct(8, 5, activation="gelu"), Linear(5, 2)), torch.randn(3, 8),
                                "zoo.linear.default")


@pytest.mark.parametrize("mode", ["ext", "torch"])
@pytest.mark.parametrize(
    "args, argument",
    [
        ((torch.randn(2, 3), torch.randn(4, 3), None, "mish"), "act"),
        ((torch.randn(2, 3), torch.randn(4, 5), None, "relu"), "weight"),
        ((torch.randn(2, 3), torch.randn(4, 3, 1), None, "relu"), "weight"),
        ((torch.randn(2, 3), torch.randn(4, 3), torch.randn(5), "relu"), "bias"),
        ((torch.randn(2, 3), torch.randn(4, 3, dtype=torch.float64), None, "relu"), "weight"),
        ((torch.randn(2, 3), torch.randn(4, 3), torch.randn(4, dtype=torch.float64), "relu"), "bias"),
        ((torch.tensor(1.0), torch.randn(4, 1), None, "relu"), "x"),
    ],
)
def test_bad_input_names_the_argument(mode, args, argument):
    with backend(mode), pytest.raises(ValueError, match=f"argument '{argument}'"):
        linear(*args)


def test_kernel_checks_name_the_argument():
    """The C++ checks, reached by calling the op directly."""
    with pytest.raises(ValueError, match="argument 'x' must be float32 or float64"):
        torch.ops.zoo.linear.default(torch.randn(2, 3).bfloat16(), torch.randn(4, 3).bfloat16(), None, "identity")
    with pytest.raises(ValueError, match="argument 'grad_out' must have the output's shape"):
        torch.ops.zoo.linear_backward.default(torch.randn(2, 5), torch.randn(2, 3), torch.randn(4, 3),
                                              [True, True, True])


def test_layers_take_torch_nn_state_dicts_and_backends_agree():
    torch.manual_seed(0)
    plain = nn.Linear(6, 4)
    x = torch.randn(2, 5, 6)
    for layer, act in ((Linear(6, 4), lambda y: y), (LinearAct(6, 4, activation="silu"), torch.nn.functional.silu)):
        layer.load_state_dict(plain.state_dict())
        expected = act(plain(x))
        for mode in ("ext", "torch"):
            with backend(mode):
                torch.testing.assert_close(layer(x), expected, msg=lambda m: f"{type(layer).__name__} {mode}: {m}")
    assert list(Linear(6, 4, bias=False).state_dict()) == ["weight"]


def test_bfloat16_on_cpu_runs_the_reference():
    """The CPU kernel is float32/float64; other dtypes take PyTorch's path instead of failing."""
    x, w = torch.randn(3, 8).bfloat16(), torch.randn(4, 8).bfloat16()
    with backend("ext"):
        torch.testing.assert_close(linear(x, w), torch.nn.functional.linear(x, w))


def test_ops_table_lists_every_op_with_its_reference():
    assert zoo.ops.OPS["linear"] == (linear, linear_reference)


def test_the_output_may_be_modified_in_place():
    """nn.ReLU(inplace=True) after a Linear (torchvision's VGG classifier): the op's output is not a view."""
    torch.manual_seed(0)
    ours, plain = Linear(6, 4), nn.Linear(6, 4)
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(3, 2, 6)
    grads = []
    for layer, mode in ((ours, "ext"), (plain, "torch")):
        xi = x.clone().requires_grad_()
        with backend(mode):
            torch.relu_(layer(xi)).sum().backward()
        grads.append((xi.grad, layer.weight.grad))
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize("on_intel", [True, False])
def test_auto_leaves_products_mkl_runs_faster_to_it_on_intel(monkeypatch, on_intel):
    """`auto` runs PyTorch's GEMM where it is measured faster (MKL on an Intel CPU: float64, and float32
    outside OURS_ON_INTEL_ROWS rows or with a weight of at most MKL_ON_INTEL_MAX_WEIGHT elements), ours elsewhere; `ext`
    always runs ours."""
    import importlib

    linear_module = importlib.import_module("zoo.ops.linear")
    monkeypatch.setattr(linear_module, "MKL_ON_INTEL", on_intel)
    calls = []
    monkeypatch.setattr(linear_module, "linear_reference",
                        lambda *args: calls.append((args[0].shape[:-1].numel(), args[0].dtype, args[1].numel()))
                        or torch.nn.functional.linear(*args[:3]))
    rows, most = linear_module.OURS_ON_INTEL_ROWS, linear_module.MKL_ON_INTEL_MAX_WEIGHT
    products = [(m, dtype, size) for m in (rows.start - 1, rows.start, rows.stop - 1, rows.stop)
                for dtype in (torch.float32, torch.float64) for size in (most, most + 8)]
    weights = {(dtype, size): torch.randn(size, dtype=dtype) for _, dtype, size in products}
    for mode in ("auto", "ext"):
        with backend(mode):
            for m, dtype, size in products:  # weights of (size / 8, 8)
                linear(torch.randn(m, 8, dtype=dtype), weights[dtype, size].view(-1, 8))
    with backend("auto"):  # rows count over every leading dimension
        linear(torch.randn(2, rows.start, 8), weights[torch.float32, most + 8].view(-1, 8))
    expected = [(m, dtype, size) for m, dtype, size in products
                if dtype == torch.float64 or m not in rows or size <= most]
    assert calls == (expected if on_intel else [])


@pytest.mark.parametrize("on_intel", [True, False])
def test_auto_never_guards_on_the_row_count(monkeypatch, on_intel):
    """A program exported for any row count must not specialise on it: where `auto` picks by row count
    (MKL on Intel), a symbolic count takes PyTorch's GEMM, a static one in OURS_ON_INTEL_ROWS ours."""
    import importlib

    linear_module = importlib.import_module("zoo.ops.linear")
    monkeypatch.setattr(linear_module, "MKL_ON_INTEL", on_intel)
    layer, x = Linear(8, linear_module.MKL_ON_INTEL_MAX_WEIGHT // 8 + 1), torch.randn(8, 8)
    with backend("auto"):
        expected = layer(x)
        dynamic = torch.export.export(layer, (x,), dynamic_shapes=({0: torch.export.Dim("rows")},))
        static = torch.export.export(layer, (x,))
        torch.testing.assert_close(torch.compile(layer, fullgraph=True, dynamic=True)(x), expected)
    for program in (dynamic, static):
        torch.testing.assert_close(program.module()(x), expected)
    longer = torch.randn(40, 8)
    torch.testing.assert_close(dynamic.module()(longer), linear_reference(longer, layer.weight, layer.bias))
    assert ("zoo.linear" in str(dynamic.graph)) == (not on_intel)
    assert "zoo.linear" in str(static.graph)
