"""The ops' autograd (csrc/<family>/<family>_autograd.cpp): each input's gradient alone, against the float64
PyTorch reference. gradcheck elsewhere differentiates every input at once; here the other inputs do not
require grad, so the kernels are asked for one gradient and must compute that one right and no others."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.ops import backend

pytestmark = pytest.mark.skipif(not zoo.ops.extension_status().loaded, reason="needs zoo._C")


def _randn(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def _lstm_inputs():
    t, b, i, h = 4, 3, 5, 6
    return [_randn(t, b, i), _randn(4 * h, i), _randn(4 * h, h), _randn(4 * h), _randn(4 * h), _randn(b, h),
            _randn(b, h)]


def _gru_inputs():
    t, b, i, h = 4, 3, 5, 6
    return [_randn(t, b, i), _randn(3 * h, i), _randn(3 * h, h), _randn(3 * h), _randn(3 * h), _randn(b, h)]


def _rnn_inputs():
    t, b, i, h = 4, 3, 5, 6
    return [_randn(t, b, i), _randn(h, i), _randn(h, h), _randn(h), _randn(h), _randn(b, h)]


# name -> (ours, reference, inputs): ours and reference take the same tensors.
CASES = {
    "linear": (zoo.ops.linear, F.linear, lambda: [_randn(2, 3, 7), _randn(4, 7), _randn(4)]),
    "linear op, fused gelu": (lambda x, w, b: torch.ops.zoo.linear.default(x, w, b, "gelu"),
                              lambda x, w, b: F.gelu(F.linear(x, w, b)), lambda: [_randn(5, 7), _randn(4, 7), _randn(4)]),
    "bias_act": (lambda x, b: zoo.ops.bias_act(x, b, "silu", 1), lambda x, b: F.silu(x + b[:, None, None]),
                 lambda: [_randn(2, 3, 4, 5), _randn(3)]),
    "conv2d": (lambda x, w, b: zoo.ops.conv2d(x, w, b, stride=2, padding=1),
               lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
               lambda: [_randn(2, 3, 7, 6), _randn(4, 3, 3, 3), _randn(4)]),
    "conv op, fused relu": (lambda x, w, b: torch.ops.zoo.conv.default(x, w, b, [1], [1], [1], 1, "relu"),
                            lambda x, w, b: F.relu(F.conv1d(x, w, b, padding=1)),
                            lambda: [_randn(2, 3, 9), _randn(4, 3, 3), _randn(4)]),
    "conv_transpose2d": (lambda x, w, b: zoo.ops.conv_transpose2d(x, w, b, stride=2, output_padding=1, groups=2),
                         lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, output_padding=1, groups=2),
                         lambda: [_randn(2, 4, 5, 4), _randn(4, 3, 3, 3), _randn(6)]),
    "attention": (lambda q, k, v: zoo.ops.scaled_dot_product_attention(q, k, v, is_causal=True),
                  lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                  lambda: [_randn(2, 3, 5, 8), _randn(2, 3, 5, 8), _randn(2, 3, 5, 8)]),
    "lstm_layer": (zoo.ops.lstm_layer, zoo.ops.lstm_layer_reference, _lstm_inputs),
    "gru_layer": (zoo.ops.gru_layer, zoo.ops.gru_layer_reference, _gru_inputs),
    "rnn_layer": (zoo.ops.rnn_layer, zoo.ops.rnn_layer_reference, _rnn_inputs),
}


def _outputs(result):
    return result if isinstance(result, tuple) else (result,)


def _gradients(fn, inputs, wanted: int, cotangents):
    inputs = [t.clone().requires_grad_(i == wanted) for i, t in enumerate(inputs)]
    outputs = _outputs(fn(*inputs))
    sum(((o * c).sum() for o, c in zip(outputs, cotangents))).backward()
    return [t.grad for t in inputs]


@pytest.mark.parametrize("name", CASES)
def test_each_input_gradient_alone_matches_the_reference(name):
    ours, reference, make_inputs = CASES[name]
    torch.manual_seed(0)
    inputs = make_inputs()
    cotangents = [torch.randn_like(o) for o in _outputs(reference(*inputs))]
    for wanted in range(len(inputs)):
        with backend("ext"):
            got = _gradients(ours, inputs, wanted, cotangents)
        expected = _gradients(reference, inputs, wanted, cotangents)
        assert all(g is None for i, g in enumerate(got) if i != wanted), f"{name}: gradient for an input not wanted"
        torch.testing.assert_close(got[wanted], expected[wanted], msg=lambda m: f"{name}, input {wanted}: {m}")


@pytest.mark.parametrize("name", CASES)
def test_without_gradients_no_graph_is_recorded(name):
    ours, _, make_inputs = CASES[name]
    inputs = make_inputs()
    with backend("ext"):
        assert not any(o.requires_grad for o in _outputs(ours(*inputs)))
        with torch.no_grad():
            assert not any(o.requires_grad for o in _outputs(ours(*(t.requires_grad_() for t in inputs))))
