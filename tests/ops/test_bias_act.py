"""bias_act: our kernels against the float64 PyTorch reference, gradcheck, opcheck, compile, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from zoo.check import within_flash_rule
from zoo.nn import Conv1dAct, Conv2dAct, Conv3dAct, LinearAct
from zoo.ops import ACTIVATIONS, backend, bias_act, bias_act_reference
from zoo.tolerances import tolerance

from ..conftest import DEVICES, assert_compiles_and_exports

# (shape, dim): odd sizes, a 1-element tensor, bias first/middle/last, an empty batch.
SHAPES = [((1,), 0), ((7, 97), -1), ((2, 7, 5, 3), 1), ((123, 33), 1), ((3, 4, 5), 0), ((0, 6, 4), 1), ((2, 3, 1029), 1)]


def _tensor(shape, device, dtype, gen):
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(device, dtype)


def sample_inputs(device, dtype=torch.float64, requires_grad=False):
    """(x, bias, act, dim) tuples covering the layouts the kernels distinguish."""
    g = torch.Generator().manual_seed(0)

    def t(*shape):
        return _tensor(shape, device, dtype, g).requires_grad_(requires_grad)

    for shape, dim in SHAPES:
        for act in ACTIVATIONS:
            yield t(*shape), t(shape[dim]), act, dim
    yield t(6, 9).t(), t(6), "gelu", 1  # non-contiguous view
    yield t(2, 5, 4, 3).contiguous(memory_format=torch.channels_last), t(5), "silu", 1
    yield t(2, 3, 4, 3, 2).contiguous(memory_format=torch.channels_last_3d), t(3), "relu", 1
    yield t(2, 5, 4, 3).contiguous(memory_format=torch.channels_last), t(4), "gelu", 2  # bias off the channels
    yield t(2, 1, 3, 4).to(memory_format=torch.channels_last), t(1), "silu", 1  # one channel: both layouts at once
    yield t(4, 5), None, "gelu_tanh", 1  # no bias
    yield t(5, 7)[:, ::2], t(4), "relu", -1  # strided slice


def _ids(samples):
    return [f"{tuple(x.shape)}-{act}-dim{dim}-{'bias' if b is not None else 'nobias'}" for x, b, act, dim in samples]


def _leaves(x, bias):
    return [x] + ([bias] if bias is not None else [])


def _run(fn, x, bias, act, dim, grad):
    x = x.detach().requires_grad_()
    bias = bias.detach().requires_grad_() if bias is not None else None
    y = fn(x, bias, act, dim)
    return [y, *torch.autograd.grad(y, _leaves(x, bias), grad)] if y.numel() else [y]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_matches_float64_reference(device, dtype):
    """Forward within the dtype's tolerance; gradients (bias grad is a reduction) by the flash-attention rule."""
    atol, rtol = tolerance(dtype)
    for x, bias, act, dim in sample_inputs(device, dtype):
        grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        with backend("ext"):
            ours = _run(bias_act, x, bias, act, dim, grad.to(device, dtype))
        theirs = _run(bias_act_reference, x, bias, act, dim, grad.to(device, dtype))
        oracle = _run(bias_act_reference, x.double(), None if bias is None else bias.double(), act, dim, grad.to(device))
        torch.testing.assert_close(ours[0], oracle[0].to(dtype), atol=atol, rtol=rtol,
                                   msg=lambda m: f"forward {tuple(x.shape)} {act} dim={dim}: {m}")
        ours_err, theirs_err, ok = within_flash_rule(ours, theirs, oracle, atol)
        assert ok, f"{tuple(x.shape)} {act} dim={dim}: error {ours_err:.3g} > 2 x PyTorch's {theirs_err:.3g} + {atol}"


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_float64(device):
    with backend("ext"):
        for x, bias, act, dim in sample_inputs(device, requires_grad=True):
            if 0 < x.numel() <= 200:
                assert torch.autograd.gradcheck(bias_act, (x, bias, act, dim)), (tuple(x.shape), act, dim)


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    samples = list(sample_inputs(device, torch.float32, requires_grad=True))
    for x, bias, act, dim in samples:
        torch.library.opcheck(torch.ops.zoo.bias_act.default, (x, bias, act, dim))


@pytest.mark.parametrize("fmt", [torch.channels_last, torch.channels_last_3d])
def test_channels_last_activations_keep_their_layout_both_ways(fmt):
    """A channels-last CNN's activations come out channels-last, and so does their gradient, as
    from PyTorch's elementwise ops: no layout copy before the next conv."""
    shape = (2, 6, 5, 4) if fmt == torch.channels_last else (2, 6, 3, 5, 4)
    x = torch.randn(shape).to(memory_format=fmt).requires_grad_()
    b = torch.randn(6).requires_grad_()
    grad = torch.randn(shape).to(memory_format=fmt)
    with backend("ext"):
        y = bias_act(x, b, "gelu", 1)
        (gx,) = torch.autograd.grad(y, x, grad)
    expected = bias_act_reference(x, b, "gelu", 1)
    (expected_gx,) = torch.autograd.grad(expected, x, grad)
    assert y.stride() == expected.stride() and gx.stride() == expected_gx.stride()
    assert y.is_contiguous(memory_format=fmt) and not y.is_contiguous()
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(gx, expected_gx)


class _BiasGelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(8))

    def forward(self, x):
        return bias_act(x, self.bias, "gelu", -1)


def test_torch_compile_fullgraph_and_export():
    assert_compiles_and_exports(_BiasGelu(), torch.randn(3, 8), "zoo.bias_act.default")


@pytest.mark.parametrize("mode", ["ext", "torch"])
@pytest.mark.parametrize(
    "args, argument",
    [
        ((torch.randn(2, 3), torch.randn(3), "mish", 1), "act"),
        ((torch.randn(2, 3), torch.randn(4), "relu", 1), "bias"),
        ((torch.randn(2, 3), torch.randn(3, 1), "relu", 1), "bias"),
        ((torch.randn(2, 3), torch.randn(3, dtype=torch.float64), "relu", 1), "bias"),
        ((torch.randn(2, 3), torch.randn(3), "relu", 2), "dim"),
        ((torch.ones(2, 3, dtype=torch.int64), None, "relu", 1), "x"),
    ],
)
def test_bad_input_names_the_argument(mode, args, argument):
    with backend(mode), pytest.raises(ValueError, match=f"argument '{argument}'"):
        bias_act(*args)


def test_backends_agree_on_layers_and_take_torch_nn_state_dicts():
    torch.manual_seed(0)
    pairs = [
        (nn.Linear(6, 4), LinearAct(6, 4, activation="silu"), torch.randn(5, 6), torch.nn.functional.silu),
        (nn.Conv1d(3, 4, 3), Conv1dAct(3, 4, 3, activation="relu"), torch.randn(2, 3, 9), torch.relu),
        (nn.Conv2d(3, 4, 3, padding=1), Conv2dAct(3, 4, 3, padding=1, activation="gelu"), torch.randn(3, 7, 7),
         torch.nn.functional.gelu),  # unbatched input
        (nn.Conv3d(2, 3, 2), Conv3dAct(2, 3, 2, activation="relu"), torch.randn(1, 2, 4, 4, 4), torch.relu),
    ]
    for plain, fused, x, act in pairs:
        fused.load_state_dict(plain.state_dict())
        expected = act(plain(x))
        for mode in ("ext", "torch"):
            with backend(mode):
                torch.testing.assert_close(fused(x), expected, msg=lambda m: f"{type(fused).__name__} {mode}: {m}")


def test_layer_rejects_unknown_activation():
    with pytest.raises(ValueError, match="argument 'activation'"):
        LinearAct(2, 2, activation="swish")


@pytest.mark.parametrize("shape, dim, with_bias", [((3, 50001), -1, True), ((2, 3, 40003), 1, True), ((100003,), 0, False)])
def test_threads_split_long_rows_and_agree_with_one_thread(shape, dim, with_bias):
    """Rows longer than a thread's share (bias per element, per row, and none: one row): three
    threads take pieces of rows, and give one thread's values bit for bit, within tolerance of float64."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g)
    bias = torch.randn(shape[dim], generator=g) if with_bias else None
    grad = torch.randn(shape, generator=g)
    threads = torch.get_num_threads()
    results = {}
    try:
        for n in (1, 3):
            torch.set_num_threads(n)
            with backend("ext"):
                results[n] = _run(bias_act, x, bias, "gelu", dim, grad)
    finally:
        torch.set_num_threads(threads)
    for one, three in zip(results[1], results[3]):
        torch.testing.assert_close(three, one, rtol=0, atol=0)
    oracle = _run(bias_act_reference, x.double(), None if bias is None else bias.double(), "gelu", dim, grad.double())
    atol, rtol = tolerance(torch.float32)
    torch.testing.assert_close(results[3][0].double(), oracle[0], atol=atol, rtol=rtol)
    torch.testing.assert_close(results[3][1].double(), oracle[1], atol=atol, rtol=rtol)


def test_ops_table_lists_every_op_with_its_reference():
    assert zoo.ops.OPS["bias_act"] == (bias_act, bias_act_reference)


@pytest.mark.large
def test_past_two_to_the_31_elements_the_indexing_is_64_bit():
    """A bfloat16 tensor of 2^31 + 3072 elements (4 GiB, 8 GiB with the result): rows past the 32-bit
    range get their own bias channel and values, which a wrapped index would mix up."""
    channels = 1024
    rows = 2**31 // channels + 3
    x = torch.zeros(rows, channels, dtype=torch.bfloat16)
    g = torch.Generator().manual_seed(0)
    tail = torch.randn(4, channels, generator=g).bfloat16()
    x[-4:] = tail
    bias = torch.randn(channels, generator=g).bfloat16()
    with backend("ext"):
        y = bias_act(x, bias, "gelu", 1)
        small = bias_act(torch.cat([x[:1], tail]), bias, "gelu", 1)
    # the same arithmetic on a small tensor, so any difference is an indexing error
    torch.testing.assert_close(y[-4:], small[1:], rtol=0, atol=0)
    torch.testing.assert_close(y[0], small[0], rtol=0, atol=0)
    atol, rtol = tolerance(torch.bfloat16)
    expected = bias_act_reference(tail.double(), bias.double(), "gelu", 1)
    torch.testing.assert_close(y[-4:].double(), expected, atol=atol, rtol=rtol)
