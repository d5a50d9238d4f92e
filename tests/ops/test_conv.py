"""conv / conv_transpose: our kernels against float64 PyTorch, gradcheck, opcheck, layouts, nn drop-ins,
compile/export, and errors that name the argument."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo
import zoo.nn
from zoo.check import within_flash_rule
from zoo.ops import (
    ACTIVATIONS,
    CONV_ALGORITHMS,
    backend,
    conv,
    conv_algorithm,
    conv_reference,
    conv_transpose,
    conv_transpose_reference,
)
from zoo.tolerances import tolerance

from ..conftest import CUDA, DEVICES, assert_compiles_and_exports

# 3x3 stride 1 with at least 16 channels each side: Winograd's algorithm on the CPU (csrc/conv/winograd.h)
# under conv_algorithm("winograd"), the direct kernels under "auto" (too few tiles or channels). Odd sizes leave
# partial 2x2 tiles; paddings 0 to 2; a 1x3x3 kernel treats depth as batch.
WINOGRAD_CASES = [
    ((2, 16, 9, 11), (20, 16, 3, 3), dict(padding=1)),
    ((1, 24, 7, 6), (16, 24, 3, 3), dict(padding=(0, 2))),
    ((2, 16, 3, 6, 5), (17, 16, 1, 3, 3), dict(padding=(0, 1, 1))),
    ((1, 16, 5, 6, 7), (20, 16, 3, 3, 3), dict(padding=(1, 2, 0))),  # F(2x2x2, 3x3x3)
    ((1, 96, 5, 7), (100, 96, 3, 3), dict(padding=1)),  # weight-gradient sums past L2: shared by the threads
]
WINOGRAD_TRANSPOSE_CASES = [((2, 16, 5, 7), (16, 20, 3, 3), dict(padding=1))]

# (x shape, weight shape, keyword arguments): odd sizes, strides, dilations, groups (1, 2, depthwise),
# every padding form, 1x1 and 7x7 kernels, padding wider than the kernel, an empty batch. Input channels
# per group on both sides of one vector's width (the kernels take different input-gradient paths).
CONV_CASES = [
    ((2, 5, 17), (7, 5, 4), dict(stride=3, padding=1)),
    ((2, 6, 19), (6, 1, 5), dict(padding="same", groups=6)),
    ((2, 8, 9, 11), (6, 8, 3, 3), dict(padding=1)),
    ((2, 8, 9, 11), (6, 4, 3, 3), dict(stride=2, padding=1, groups=2)),
    ((2, 8, 13, 11), (8, 1, 5, 5), dict(stride=2, padding=2, dilation=2, groups=8)),
    ((2, 40, 9, 10), (40, 1, 3, 3), dict(padding=1, groups=40)),  # depthwise over more channels than a warp
    ((2, 24, 33), (48, 1, 7), dict(padding=3, groups=24)),  # channel multiplier 2: the generic path
    ((1, 3, 23, 20), (16, 3, 7, 7), dict(stride=2, padding=3)),
    ((2, 40, 5, 7), (70, 40, 1, 1), dict()),
    ((2, 40, 7, 9), (20, 20, 3, 3), dict(stride=2, padding=1, dilation=(1, 2), groups=2)),  # wide-channel grad path
    ((2, 3, 8, 9), (4, 3, 4, 2), dict(padding="same", dilation=(1, 2))),
    ((2, 3, 8, 9), (4, 3, 3, 2), dict(padding="valid", stride=(1, 2))),
    ((1, 2, 4, 5), (3, 2, 3, 3), dict(padding=3)),
    ((2, 4, 6, 7, 5), (6, 4, 3, 3, 3), dict(padding=1)),
    ((1, 3, 7, 8, 9), (4, 3, 2, 3, 3), dict(stride=(2, 1, 2), padding=(0, 1, 1))),
    ((0, 3, 8, 8), (4, 3, 3, 3), dict(padding=1)),
    ((3, 7, 7), (5, 3, 3, 3), dict(padding=1)),  # unbatched
    ((2, 8, 1, 1, 1), (6, 8, 3, 3, 3), dict(padding=1)),  # 3-D ResNet's 1x1x1 map: only the centre tap reads input
    # Output rows of 8 pixels or more: the implicit-GEMM kernels; shorter ones run im2col / col2im.
    ((2, 5, 4, 21), (6, 5, 3, 3), dict(padding=1)),
    ((1, 3, 9, 40), (8, 3, 7, 7), dict(stride=2, padding=3)),
    ((2, 1, 6, 19), (5, 1, 3, 3), dict(padding=2, dilation=(1, 3))),  # one channel: weight-gradient taps 3 apart
    ((1, 20, 5, 34), (8, 20, 3, 3), dict(stride=2, padding=1)),  # and the wide-channel input gradient's
    *WINOGRAD_CASES,
]

# Transposed: weight (C_in, C_out / groups, *kernel).
TRANSPOSE_CASES = [
    ((2, 5, 9), (5, 3, 4), dict(stride=2, padding=1, output_padding=1)),
    ((2, 6, 5, 7), (6, 4, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((2, 6, 5, 4), (6, 2, 3, 3), dict(stride=(2, 3), padding=(1, 0), output_padding=(0, 2), groups=2)),
    ((1, 4, 6, 6), (4, 3, 3, 3), dict(dilation=2, output_padding=1)),
    ((2, 16, 4, 4), (16, 8, 4, 4), dict(stride=2, padding=1)),
    ((1, 4, 3, 4, 5), (4, 2, 3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 7), (4, 1, 3), dict(stride=2, groups=4)),
    ((0, 4, 3, 3), (4, 2, 3, 3), dict(stride=2)),
    ((2, 20, 4, 5), (20, 36, 3, 3), dict(stride=2, padding=1, output_padding=1)),  # wide output channels
    *WINOGRAD_TRANSPOSE_CASES,
]


def _ids(cases):
    return [f"{x}-{w}-{','.join(f'{k}={v}' for k, v in kw.items())}" for x, w, kw in cases]


def _inputs(x_shape, w_shape, bias_channels, dtype, device, seed=0):
    """x, weight at torch.nn's initialisation scale (outputs ~1, where float32's atol means something), bias."""
    g = torch.Generator().manual_seed(seed)
    x, w, b = (torch.randn(shape, generator=g, dtype=torch.float64) for shape in (x_shape, w_shape, (bias_channels,)))
    fan_in = torch.Size(w_shape[1:]).numel()
    return tuple(t.to(device, dtype) for t in (x, w / fan_in**0.5, b))


def _outputs_and_grads(fn, x, w, b, kw, seed=1):
    x, w, b = (t.detach().requires_grad_() for t in (x, w, b))
    y = fn(x, w, b, **kw)
    grad = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(y)
    return [y, *torch.autograd.grad(y, (x, w, b), grad)]


def _assert_matches(ours_fn, ref_fn, x_shape, w_shape, kw, bias_channels, device, dtype):
    """Forward within the dtype's tolerance; gradients (reductions) by flash-attention's rule."""
    x, w, b = _inputs(x_shape, w_shape, bias_channels, dtype, device)
    with backend("ext"):
        ours = _outputs_and_grads(ours_fn, x, w, b, kw)
    theirs = _outputs_and_grads(ref_fn, x, w, b, kw)
    oracle = _outputs_and_grads(ref_fn, x.double(), w.double(), b.double(), kw)
    atol, rtol = tolerance(dtype)
    torch.testing.assert_close(ours[0], oracle[0].to(dtype), atol=atol, rtol=rtol)
    ours_err, theirs_err, ok = within_flash_rule(ours, theirs, oracle, atol)
    assert ok, f"error {ours_err:.3g} > 2 x PyTorch's {theirs_err:.3g} + {atol}"


def _reference_conv(x, w, b, **kw):
    return F.__dict__[f"conv{w.dim() - 2}d"](x, w, b, **kw)


def _reference_transpose(x, w, b, **kw):
    return F.__dict__[f"conv_transpose{w.dim() - 2}d"](x, w, b, **kw)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("x_shape, w_shape, kw", CONV_CASES, ids=_ids(CONV_CASES))
def test_conv_matches_float64_reference(device, dtype, x_shape, w_shape, kw):
    _assert_matches(conv, _reference_conv, x_shape, w_shape, kw, w_shape[0], device, dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("x_shape, w_shape, kw", TRANSPOSE_CASES, ids=_ids(TRANSPOSE_CASES))
def test_conv_transpose_matches_float64_reference(device, dtype, x_shape, w_shape, kw):
    groups = kw.get("groups", 1)
    _assert_matches(conv_transpose, _reference_transpose, x_shape, w_shape, kw, w_shape[1] * groups, device, dtype)


@CUDA
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_cuda_tensor_core_path_matches_float64_reference(dtype):
    for x_shape, w_shape, kw in CONV_CASES:
        _assert_matches(conv, _reference_conv, x_shape, w_shape, kw, w_shape[0], "cuda", dtype)
    for x_shape, w_shape, kw in TRANSPOSE_CASES:
        channels = w_shape[1] * kw.get("groups", 1)
        _assert_matches(conv_transpose, _reference_transpose, x_shape, w_shape, kw, channels, "cuda", dtype)


def _small(cases):
    return [c for c in cases if torch.Size(c[0]).numel() * torch.Size(c[1]).numel() <= 20000]


@pytest.mark.parametrize("act", ["identity", "gelu"])
def test_gradcheck_float64(act):
    """Both ops' own backward, including the op called directly with a fused activation (recomputes it)."""
    with backend("ext"):
        for x_shape, w_shape, kw in _small(CONV_CASES):
            x, w, b = (t.requires_grad_() for t in _inputs(x_shape, w_shape, w_shape[0], torch.float64, "cpu"))
            assert torch.autograd.gradcheck(lambda x, w, b: conv(x, w, b, **kw, act=act), (x, w, b)), (x_shape, kw)
        for x_shape, w_shape, kw in _small(TRANSPOSE_CASES):
            channels = w_shape[1] * kw.get("groups", 1)
            x, w, b = (t.requires_grad_() for t in _inputs(x_shape, w_shape, channels, torch.float64, "cpu"))
            assert torch.autograd.gradcheck(lambda x, w, b: conv_transpose(x, w, b, **kw, act=act), (x, w, b))


def test_direct_op_with_activation_has_correct_gradients():
    x, w, b = (t.requires_grad_() for t in _inputs((2, 3, 6, 5), (4, 3, 3, 3), 4, torch.float64, "cpu"))
    args = ([1, 1], [1, 1], [1, 1], 1, "silu")
    assert torch.autograd.gradcheck(lambda x, w, b: torch.ops.zoo.conv.default(x, w, b, *args), (x, w, b))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_winograd_matches_float64_reference(dtype):
    """Forced onto Winograd's algorithm however few its tiles: forward and both gradients, both ops."""
    with conv_algorithm("winograd"):
        for x_shape, w_shape, kw in WINOGRAD_CASES:
            _assert_matches(conv, _reference_conv, x_shape, w_shape, kw, w_shape[0], "cpu", dtype)
        for x_shape, w_shape, kw in WINOGRAD_TRANSPOSE_CASES:
            _assert_matches(conv_transpose, _reference_transpose, x_shape, w_shape, kw, w_shape[1], "cpu", dtype)


@pytest.mark.parametrize("act", ["identity", "silu"])
def test_gradcheck_float64_winograd(act):
    """The Winograd kernels' forward, input and weight gradients with a fused epilogue, both ops."""
    x, w, b = (t.requires_grad_() for t in _inputs((1, 16, 5, 4), (16, 16, 3, 3), 16, torch.float64, "cpu"))
    with backend("ext"), conv_algorithm("winograd"):
        for op, pad in [(conv, 1), (conv, (2, 0)), (conv_transpose, 1)]:
            assert torch.autograd.gradcheck(lambda x, w, b: op(x, w, b, padding=pad, act=act), (x, w, b)), (op, pad)


def test_conv_algorithm_picks_the_kernel():
    """'auto' gives Winograd's results bit for bit on a conv with many tiles, the direct kernel's on one with
    few; with fewer than 32 channels a side, the direct kernel's forward but Winograd's input gradient."""
    # 144 and 9 output tiles of 2x2: (channels, size, forward under auto, input gradient under auto)
    for channels, size, forward_is, grad_is in [(32, 24, "winograd", "winograd"), (32, 6, "direct", "direct"),
                                                (16, 24, "direct", "winograd")]:
        x, w, b = _inputs((1, channels, size, size), (channels, channels, 3, 3), channels, torch.float32, "cpu")
        outputs, grads = {}, {}
        with backend("ext"):
            for name in CONV_ALGORITHMS:
                with conv_algorithm(name):
                    x_grad = x.detach().requires_grad_()
                    outputs[name] = conv(x_grad, w, b, padding=1)
                    outputs[name].backward(torch.ones_like(outputs[name]))
                    grads[name] = x_grad.grad
        assert not torch.equal(outputs["direct"], outputs["winograd"])
        assert not torch.equal(grads["direct"], grads["winograd"])
        assert torch.equal(outputs["auto"], outputs[forward_is]), (channels, size)
        assert torch.equal(grads["auto"], grads[grad_is]), (channels, size)
    with pytest.raises(ValueError, match="'name'"):
        with conv_algorithm("fft"):
            pass


def _op_samples():
    for x_shape, w_shape, kw in [((2, 4, 7, 6), (6, 2, 3, 3), {}), ((1, 3, 5), (4, 3, 2), {})]:
        x, w, b = (t.requires_grad_() for t in _inputs(x_shape, w_shape, w_shape[0], torch.float32, "cpu"))
        n = x.dim() - 2
        groups = x_shape[1] // w_shape[1]
        yield torch.ops.zoo.conv.default, (x, w, b, [2] * n, [1] * n, [1] * n, groups, "relu")
        xt = torch.randn(x_shape[0], w_shape[0], *x_shape[2:]).requires_grad_()
        bt = torch.randn(w_shape[1] * groups).requires_grad_()
        wt = torch.randn(w_shape[0], w_shape[1], *w_shape[2:]).requires_grad_()
        yield torch.ops.zoo.conv_transpose.default, (xt, wt, bt, [2] * n, [1] * n, [1] * n, [1] * n, groups,
                                                     "identity")


@pytest.mark.parametrize("sample", range(4))
def test_opcheck(sample):
    op, args = list(_op_samples())[sample]
    torch.library.opcheck(op, args)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_fused_epilogue_matches_activation_of_conv(act):
    x, w, b = _inputs((2, 6, 9, 8), (10, 6, 3, 3), 10, torch.float64, "cpu")
    expected = ACTIVATIONS[act](F.conv2d(x, w, b, padding=1))
    with backend("ext"):
        with torch.no_grad():
            torch.testing.assert_close(conv(x, w, b, padding=1, act=act), expected)
        w.requires_grad_()  # the training path: conv, then zoo.bias_act
        torch.testing.assert_close(conv(x, w, b, padding=1, act=act), expected)
    torch.testing.assert_close(conv_reference(x, w, b, 1, 1, 1, 1, act), expected)


def test_memory_formats_follow_the_input():
    x, w, b = _inputs((2, 6, 9, 8), (10, 6, 3, 3), 10, torch.float32, "cpu")
    expected = F.conv2d(x, w, b, padding=1)
    with backend("ext"):
        channels_last = conv(x.contiguous(memory_format=torch.channels_last), w, b, padding=1)
        strided = conv(x.transpose(2, 3).contiguous().transpose(2, 3), w, b, padding=1)
        volumes = conv(x.unsqueeze(2).contiguous(memory_format=torch.channels_last_3d), w.unsqueeze(2), b,
                       padding=(0, 1, 1))
    assert channels_last.is_contiguous(memory_format=torch.channels_last) and not channels_last.is_contiguous()
    assert strided.is_contiguous()
    assert volumes.is_contiguous(memory_format=torch.channels_last_3d)
    for y in (channels_last, strided, volumes.squeeze(2)):
        torch.testing.assert_close(y, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("to_channels_last", [False, True])
def test_one_channel_layout_is_read_from_the_strides_as_pytorch_does(to_channels_last):
    """A one-channel image is contiguous in both layouts; PyTorch reads its strides, and so do we
    (kernel and fake kernel), so a network fed one converted image stays channels-last."""
    x, w, b = _inputs((2, 1, 9, 8), (4, 1, 3, 3), 4, torch.float32, "cpu")
    if to_channels_last:
        x = zoo.nn.channels_last(x)
        assert x.stride() == (72, 1, 8, 1)
    expected = F.conv2d(x, w, b, padding=1)
    with backend("ext"):
        y = conv(x, w, b, padding=1)
    assert y.stride() == expected.stride()
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=1e-5)
    torch.library.opcheck(torch.ops.zoo.conv.default, (x, w, b, [1, 1], [1, 1], [1, 1], 1, "identity"))


NN_PAIRS = [
    (nn.Conv1d(4, 6, 3, stride=2, padding=1), zoo.nn.Conv1d, (2, 4, 11)),
    (nn.Conv2d(4, 6, 3, padding="same", padding_mode="reflect"), zoo.nn.Conv2d, (2, 4, 7, 9)),
    (nn.Conv2d(4, 8, 3, padding=1, groups=4, padding_mode="circular", bias=False), zoo.nn.Conv2d, (2, 4, 6, 6)),
    (nn.Conv3d(2, 3, (2, 3, 3), padding=(0, 1, 2), padding_mode="replicate"), zoo.nn.Conv3d, (1, 2, 4, 5, 6)),
    (nn.ConvTranspose1d(4, 2, 4, stride=2, padding=1), zoo.nn.ConvTranspose1d, (2, 4, 5)),
    (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2), zoo.nn.ConvTranspose2d,
     (2, 4, 5, 3)),
    (nn.ConvTranspose3d(2, 3, 3, stride=(1, 2, 2), dilation=(2, 1, 1)), zoo.nn.ConvTranspose3d, (1, 2, 3, 4, 4)),
]


@pytest.mark.parametrize("plain, cls, shape", NN_PAIRS, ids=[type(p).__name__ + str(i) for i, (p, _, _) in
                                                             enumerate(NN_PAIRS)])
def test_nn_layers_are_drop_ins(plain, cls, shape):
    """Same constructor arguments, a torch.nn state_dict loads as is, and forward and backward agree."""
    torch.manual_seed(0)
    plain = plain.double()
    ours = cls(*_constructor_args(plain)).double()
    ours.load_state_dict(plain.state_dict())
    assert ours.state_dict().keys() == plain.state_dict().keys()
    x = torch.randn(shape, dtype=torch.float64)
    results = []
    for layer, mode in ((plain, "torch"), (ours, "ext")):
        with backend(mode):
            xi = x.clone().requires_grad_()
            y = layer(xi)
            y.square().sum().backward()
            results.append([y, xi.grad, layer.weight.grad])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)


def _constructor_args(layer):
    args = [layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding]
    if isinstance(layer, nn.modules.conv._ConvTransposeNd):
        return args + [layer.output_padding, layer.groups, layer.bias is not None, layer.dilation, layer.padding_mode]
    return args + [layer.dilation, layer.groups, layer.bias is not None, layer.padding_mode]


def test_conv_transpose_layer_takes_output_size():
    layer = zoo.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    plain = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(1, 3, 4, 4)
    with backend("ext"):
        y = layer(x, output_size=[8, 8])
    torch.testing.assert_close(y, plain(x, output_size=[8, 8]))


def test_torch_compile_fullgraph_and_export():
    model = nn.Sequential(zoo.nn.Conv2dAct(3, 4, 3, padding=1, activation="silu"), zoo.nn.ConvTranspose2d(4, 2, 2, 2))
    assert_compiles_and_exports(model, torch.randn(2, 3, 8, 8), "zoo.conv.default", "zoo.conv_transpose.default")


def test_torch_compile_backward():
    layer = zoo.nn.Conv2d(3, 4, 3, padding=1)
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    with backend("ext"):
        layer(x).sum().backward()
        expected = x.grad.clone(), layer.weight.grad.clone()
        x.grad = layer.weight.grad = None
        torch.compile(layer, fullgraph=True)(x).sum().backward()
    torch.testing.assert_close((x.grad, layer.weight.grad), expected)


BAD = [
    (lambda: conv(torch.randn(2, 6, 8, 8), torch.randn(4, 3, 3, 3), groups=4), "groups"),
    (lambda: conv(torch.randn(2, 6, 8, 8), torch.randn(4, 4, 3, 3)), "weight"),
    (lambda: conv(torch.randn(2, 3, 4, 4), torch.randn(4, 3, 7, 7)), "weight"),
    (lambda: conv(torch.randn(2, 3, 4, 4), torch.randn(4, 3, 3, 3), dilation=3, padding=1), "weight"),
    (lambda: conv(torch.randn(3, 4, 4, 4, 4, 4), torch.randn(4, 3, 3, 3)), "x"),
    (lambda: conv(torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3), stride=0), "stride"),
    (lambda: conv(torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3), padding=-1), "padding"),
    (lambda: conv(torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3), stride=2, padding="same"), "padding"),
    (lambda: conv(torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3), padding="full"), "padding"),
    (lambda: conv(torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3), stride=(1, 1, 1)), "stride"),
    (lambda: conv(torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3), torch.randn(5)), "bias"),
    (lambda: conv(torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3).double()), "weight"),
    (lambda: conv(torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3), act="mish"), "act"),
    (lambda: conv_transpose(torch.randn(2, 4, 5, 5), torch.randn(4, 2, 3, 3), stride=2, output_padding=2),
     "output_padding"),
    (lambda: conv_transpose(torch.randn(2, 4, 5, 5), torch.randn(3, 2, 3, 3)), "weight"),
    (lambda: conv_transpose(torch.randn(2, 4, 5, 5), torch.randn(4, 2, 3, 3), groups=3), "groups"),
    (lambda: conv_transpose(torch.randn(2, 4, 1, 1), torch.randn(4, 2, 1, 1), padding=1), "padding"),
    (lambda: torch.ops.zoo.conv_backward(torch.randn(2, 4, 5, 5), torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3),
                                         [1], [0], [1], 1, [True, True, True]), "grad_out"),
]


@pytest.mark.parametrize("call, argument", BAD, ids=[f"{i}-{a}" for i, (_, a) in enumerate(BAD)])
def test_bad_input_names_the_argument(call, argument):
    with backend("ext"), pytest.raises(ValueError, match=f"argument '{argument}'"):
        call()


def test_int8_input_is_refused_by_the_kernel():
    with backend("ext"), pytest.raises(ValueError, match="argument 'x' must be a floating-point"):
        torch.ops.zoo.conv(torch.ones(1, 1, 3, 3, dtype=torch.int8), torch.ones(1, 1, 1, 1, dtype=torch.int8), None,
                           [1], [0], [1], 1, "identity")


def test_ops_table_lists_conv_with_its_references():
    assert zoo.ops.OPS["conv"] == (conv, conv_reference)
    assert zoo.ops.OPS["conv_transpose"] == (conv_transpose, conv_transpose_reference)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("out_channels", [1, 4])
def test_results_are_not_views_so_in_place_ops_keep_gradients(layout, out_channels):
    """nn.ReLU(inplace=True) after a conv (every VGG and ResNet) must not break autograd."""
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64).contiguous(memory_format=layout)
    w = torch.randn(out_channels, 3, 3, 3, dtype=torch.float64)
    grads = []
    for mode in ("ext", "torch"):
        weight = w.clone().requires_grad_()
        with backend(mode):
            y = conv(x, weight, padding=1)
            assert y._base is None
            torch.relu_(y).sum().backward()
        grads.append(weight.grad)
    torch.testing.assert_close(*grads)
