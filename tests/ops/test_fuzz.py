"""Property-based tests: random shapes, layouts, dtypes and options for every op family, each compared
with the float64 reference (flash-attention's rule for anything that reduces)."""

from __future__ import annotations

import functools

import torch
from hypothesis import given
from hypothesis import strategies as st

from zoo.check import within_flash_rule
from zoo.ops import ACTIVATIONS, backend
from zoo.ops import conv, conv_reference, conv_transpose, conv_transpose_reference
from zoo.ops import bias_act, bias_act_reference, gru_layer, gru_layer_reference, lstm_layer, lstm_layer_reference
from zoo.ops import rnn_layer, rnn_layer_reference
from zoo.ops import scaled_dot_product_attention as sdpa
from zoo.ops import scaled_dot_product_attention_reference as sdpa_reference
from zoo.tolerances import tolerance

DTYPES = st.sampled_from([torch.float32, torch.float64])


def tensor(draw, shape, dtype, seed, transposed=False):
    """A random tensor, sometimes a non-contiguous view of the same values."""
    t = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)
    if transposed and t.dim() >= 2:
        t = t.transpose(-1, -2).contiguous().transpose(-1, -2)
    return t


def outputs_and_grads(fn, inputs, seed, grads=True):
    inputs = [t.detach().requires_grad_() for t in inputs]
    out = fn(*inputs)
    outs = list(out) if isinstance(out, tuple) else [out]
    if not grads:
        return outs
    grads = [torch.randn(o.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(o.dtype)
             for o in outs]
    live = [(o, g) for o, g in zip(outs, grads) if o.numel()]
    if not live:
        return outs
    grads = torch.autograd.grad([o for o, _ in live], inputs, [g for _, g in live], allow_unused=True)
    return outs + [torch.zeros_like(i) if g is None else g for i, g in zip(inputs, grads)]


def assert_flash_rule(fn_ours, fn_ref, inputs, dtype, grads=True):
    with backend("ext"):
        ours = outputs_and_grads(fn_ours, inputs, 1, grads)
    theirs = outputs_and_grads(fn_ref, inputs, 1, grads)
    oracle = outputs_and_grads(fn_ref, [t.double() for t in inputs], 1, grads)
    atol, _ = tolerance(dtype)
    ours_err, theirs_err, ok = within_flash_rule(ours, theirs, oracle, atol)
    assert ok, f"error {ours_err:.3g} > 2 x PyTorch's {theirs_err:.3g} + {atol}"


@given(shape=st.lists(st.integers(0, 9), min_size=1, max_size=4), dim_seed=st.integers(0, 3),
       act=st.sampled_from(sorted(ACTIVATIONS)), dtype=DTYPES, transposed=st.booleans(), seed=st.integers(0, 2**16))
def test_bias_act(shape, dim_seed, act, dtype, transposed, seed):
    dim = dim_seed % len(shape)
    x = tensor(None, shape, dtype, seed, transposed)
    bias = tensor(None, (shape[dim],), dtype, seed + 1)
    assert_flash_rule(lambda x, b: bias_act(x, b, act, dim), lambda x, b: bias_act_reference(x, b, act, dim), [x, bias], dtype)


@given(b=st.integers(0, 2), hkv=st.integers(1, 2), group=st.integers(1, 3), lq=st.integers(0, 70), lk=st.integers(0, 140),
       d=st.integers(1, 80), dv=st.integers(1, 40), causal=st.booleans(), mask=st.sampled_from([None, "bool", "float"]),
       dtype=DTYPES, seed=st.integers(0, 2**16))
def test_attention(b, hkv, group, lq, lk, d, dv, causal, mask, dtype, seed):
    hq = hkv * group
    q, k, v = (tensor(None, s, dtype, seed + i) for i, s in enumerate([(b, hq, lq, d), (b, hkv, lk, d), (b, hkv, lk, dv)]))
    attn_mask = None
    if mask == "bool":
        attn_mask = torch.rand(lq, lk, generator=torch.Generator().manual_seed(seed)) > 0.3
    elif mask == "float":
        attn_mask = tensor(None, (b, 1, lq, lk), dtype, seed + 7)

    def options(q):  # a float mask follows the query's dtype, also for the float64 oracle
        m = attn_mask.to(q.dtype) if attn_mask is not None and attn_mask.is_floating_point() else attn_mask
        return dict(attn_mask=m, is_causal=causal and mask is None, enable_gqa=group > 1)

    assert_flash_rule(lambda q, k, v: sdpa(q, k, v, **options(q)), lambda q, k, v: sdpa_reference(q, k, v, **options(q)),
                      [q, k, v], dtype)


@given(kind=st.sampled_from(["lstm", "gru", "rnn_tanh", "rnn_relu"]), t=st.integers(0, 12), b=st.integers(0, 4),
       i=st.integers(1, 20), h=st.integers(1, 40), bias=st.booleans(), ragged=st.booleans(), dtype=DTYPES,
       seed=st.integers(0, 2**16))
def test_recurrent_layers(kind, t, b, i, h, bias, ragged, dtype, seed):
    gates = {"lstm": 4, "gru": 3}.get(kind, 1)
    # Weights at torch.nn's initialisation scale: deep in tanh/sigmoid saturation float32 gradients
    # amplify last-bit forward differences step by step (PyTorch's as much as ours, differently).
    w = [tensor(None, s, dtype, seed + n) / h**0.5 for n, s in enumerate([(gates * h, i), (gates * h, h), (gates * h,), (gates * h,)])]
    x, h0, c0 = tensor(None, (t, b, i), dtype, seed + 9), tensor(None, (b, h), dtype, seed + 10), tensor(None, (b, h), dtype, seed + 11)
    lengths = torch.randint(0, t + 1, (b,), generator=torch.Generator().manual_seed(seed)) if ragged else None
    if kind == "lstm":
        ours, ref, inputs = lstm_layer, lstm_layer_reference, [x, *w, h0, c0]
    elif kind == "gru":
        ours, ref, inputs = gru_layer, gru_layer_reference, [x, *w, h0]
    else:
        nonlinearity = kind.split("_")[1]
        ours = functools.partial(rnn_layer, nonlinearity=nonlinearity)
        ref = functools.partial(rnn_layer_reference, nonlinearity=nonlinearity)
        inputs = [x, *w, h0]

    def call(fn):
        def run(x, w_ih, w_hh, b_ih, b_hh, *states):
            return fn(x, w_ih, w_hh, b_ih if bias else None, b_hh if bias else None, *states, lengths=lengths)
        return run

    # A relu pre-activation within float32 rounding of 0 may take either sign in two correct float32
    # computations, and its gradient jumps between 0 and 1: float32 relu compares outputs only.
    grads = not (kind == "rnn_relu" and dtype == torch.float32)
    assert_flash_rule(call(ours), call(ref), inputs, dtype, grads)


@st.composite
def conv_geometry(draw):
    """A valid (transposed) convolution: per spatial dim (size, kernel, stride, padding, dilation, output_padding)."""
    dims = []
    for _ in range(draw(st.integers(1, 3))):
        k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        p = draw(st.integers(0, 2))
        size = draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 9))
        dims.append((size, k, s, p, d, draw(st.integers(0, max(s, d) - 1))))
    return dims


@given(geometry=conv_geometry(), batch=st.integers(0, 2), groups=st.integers(1, 3), cg=st.sampled_from([1, 2, 3, 5, 17, 40]),
       kg=st.integers(1, 5), depthwise=st.booleans(), transposed=st.booleans(), channels_last=st.booleans(),
       bias=st.booleans(), dtype=DTYPES, seed=st.integers(0, 2**16))
def test_conv(geometry, batch, groups, cg, kg, depthwise, transposed, channels_last, bias, dtype, seed):
    size, kernel, stride, padding, dilation, output_padding = (list(v) for v in zip(*geometry))
    if depthwise:
        cg, kg = 1, 1
    c_in, c_out = groups * cg, groups * kg
    w_shape = (c_in, kg, *kernel) if transposed else (c_out, cg, *kernel)
    if transposed:  # the output must not be empty
        out = [(n - 1) * s - 2 * p + d * (k - 1) + e + 1 for n, k, s, p, d, e in geometry]
        padding = [p if o >= 1 else 0 for p, o in zip(padding, out)]
    x = tensor(None, (batch, c_in, *size), dtype, seed)
    if channels_last and x.dim() >= 4:
        x = x.contiguous(memory_format=torch.channels_last if x.dim() == 4 else torch.channels_last_3d)
    fan_in = torch.Size(w_shape[1:]).numel()  # weights at torch.nn's scale, as in test_conv.py
    inputs = [x, tensor(None, w_shape, dtype, seed + 1) / fan_in**0.5]
    inputs += [tensor(None, (c_out,), dtype, seed + 2)] if bias else []
    if transposed:
        args = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
        ours, ref = conv_transpose, conv_transpose_reference
    else:
        args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        ours, ref = conv, conv_reference

    def call(fn):
        return lambda x, w, b=None: fn(x, w, b, **args)

    assert_flash_rule(call(ours), call(ref), inputs, dtype)
