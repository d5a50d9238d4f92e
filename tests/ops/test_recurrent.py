"""LSTM/GRU/RNN: zoo.nn against torch.nn with the same weights (float64 and float32), packed sequences, initial
states, gradcheck and opcheck of the layer ops, torch.compile, cells, and errors that name the argument."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import zoo
from zoo.ops import backend

PAIRS = [(zoo.nn.LSTM, nn.LSTM), (zoo.nn.GRU, nn.GRU), (zoo.nn.RNN, nn.RNN),
         (functools.partial(zoo.nn.RNN, nonlinearity="relu"), functools.partial(nn.RNN, nonlinearity="relu"))]
PAIR_IDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
CONFIGS = [
    dict(input_size=5, hidden_size=6),
    dict(input_size=4, hidden_size=7, num_layers=2, bidirectional=True),
    dict(input_size=3, hidden_size=5, num_layers=3, batch_first=True, bias=False),
    dict(input_size=6, hidden_size=33, num_layers=2, bidirectional=True, batch_first=True),  # odd hidden size
]


def pair(cls, ref_cls, config, dtype=torch.float64):
    torch.manual_seed(0)
    ref = ref_cls(**config, dtype=dtype)
    ours = cls(**config, dtype=dtype)
    assert list(ours.state_dict()) == list(ref.state_dict())  # the same names in the same order
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def flat(output):
    out, state = output
    out = out.data if isinstance(out, nn.utils.rnn.PackedSequence) else out
    return [out, *(state if isinstance(state, tuple) else (state,))]


def run_both(ours, ref, *args):
    """Outputs and parameter gradients of both modules for the same inputs."""
    results = []
    for module in (ours, ref):
        module.zero_grad()
        outputs = flat(module(*args))
        sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view_as(o)).sum() for o in outputs).backward()
        results.append(outputs + [p.grad for p in module.parameters()])
    return results


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("cls, ref_cls", PAIRS, ids=PAIR_IDS)
def test_matches_torch_nn(cls, ref_cls, config, dtype):
    ours, ref = pair(cls, ref_cls, config, dtype)
    batch_first = config.get("batch_first", False)
    g = torch.Generator().manual_seed(1)
    x = torch.randn((3, 9, config["input_size"]) if batch_first else (9, 3, config["input_size"]), generator=g, dtype=dtype)
    directions = 2 if config.get("bidirectional") else 1
    h0 = torch.randn(config.get("num_layers", 1) * directions, 3, config["hidden_size"], generator=g, dtype=dtype)
    hx = (h0, torch.randn_like(h0)) if cls is zoo.nn.LSTM else h0
    packed = pack_padded_sequence(x, torch.tensor([5, 9, 1]), batch_first=batch_first, enforce_sorted=False)
    tol = dict(atol=1e-12, rtol=1e-10) if dtype == torch.float64 else dict(atol=2e-5, rtol=1e-4)
    with backend("ext"):
        for args in [(x,), (x, hx), (packed,), (packed, hx), (x[:, :1] if batch_first else x[:1],)]:
            for a, b in zip(*run_both(ours, ref, *args)):
                torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("cls, ref_cls", PAIRS, ids=PAIR_IDS)
def test_unbatched_and_empty_batch(cls, ref_cls):
    ours, ref = pair(cls, ref_cls, CONFIGS[1])
    x = torch.randn(6, 4, dtype=torch.float64)
    with backend("ext"):
        for a, b in zip(flat(ours(x)), flat(ref(x))):
            torch.testing.assert_close(a, b)
        empty = torch.randn(6, 0, 4, dtype=torch.float64)
        out = flat(ours(empty))
        with backend("torch"):
            expected = flat(ours(empty))
    assert out[0].shape == (6, 0, 14)
    for a, b in zip(out, expected):
        torch.testing.assert_close(a, b)


def test_cells_match_torch_nn():
    torch.manual_seed(0)
    for cls, ref_cls in [(zoo.nn.LSTMCell, nn.LSTMCell), (zoo.nn.GRUCell, nn.GRUCell), (zoo.nn.RNNCell, nn.RNNCell),
                         (functools.partial(zoo.nn.RNNCell, nonlinearity="relu"),
                          functools.partial(nn.RNNCell, nonlinearity="relu"))]:
        ref = ref_cls(4, 5, dtype=torch.float64)
        ours = cls(4, 5, dtype=torch.float64)
        ours.load_state_dict(ref.state_dict())
        x = torch.randn(3, 4, dtype=torch.float64)
        with backend("ext"):
            for args in [(x,), (x[0],)]:
                a, b = ours(*args), ref(*args)
                for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
                    torch.testing.assert_close(u, v)


def _layer_inputs(gates, lengths=True):
    g = torch.Generator().manual_seed(0)
    t, b, h = 5, 3, 4

    def r(*shape):
        return torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)

    return t, b, h, r, (torch.tensor([5, 2, 0]) if lengths else None)


def test_gradcheck_and_opcheck_of_the_layer_ops():
    t, b, h, r, lengths = _layer_inputs(4)
    lstm_args = (r(t, b, 4 * h), r(4 * h, h), r(b, h), r(b, h), lengths)
    gru_args = (r(t, b, 3 * h), r(3 * h, h), r(3 * h), r(b, h), lengths)
    with backend("ext"):
        assert torch.autograd.gradcheck(lambda *a: torch.ops.zoo.lstm_layer(*a, lengths)[:3], lstm_args[:4])
        assert torch.autograd.gradcheck(lambda *a: torch.ops.zoo.gru_layer(*a, lengths)[:2], gru_args[:4])
    torch.library.opcheck(torch.ops.zoo.lstm_layer.default, lstm_args)
    torch.library.opcheck(torch.ops.zoo.gru_layer.default, gru_args)
    rnn_args = (r(t, b, h), r(h, h), r(b, h), lengths)
    for nonlinearity in ("tanh", "relu"):
        with backend("ext"):
            assert torch.autograd.gradcheck(lambda *a: torch.ops.zoo.rnn_layer(*a, lengths, nonlinearity), rnn_args[:3])
        torch.library.opcheck(torch.ops.zoo.rnn_layer.default, (*rnn_args, nonlinearity))


def test_torch_compile_on_a_module():
    model = zoo.nn.GRU(4, 8, num_layers=2, batch_first=True)
    x = torch.randn(2, 5, 4)
    with backend("ext"):
        torch.testing.assert_close(torch.compile(model, fullgraph=True)(x)[0], model(x)[0])


def test_errors_name_the_argument():
    lstm = zoo.nn.LSTM(4, 6, num_layers=2)
    with pytest.raises(ValueError, match="argument 'input' must have input_size = 4"):
        lstm(torch.randn(5, 2, 3))
    with pytest.raises(ValueError, match=r"argument 'hx' must have shape \(2, 2, 6\)"):
        lstm(torch.randn(5, 2, 4), (torch.zeros(1, 2, 6), torch.zeros(1, 2, 6)))
    with pytest.raises(NotImplementedError, match="proj_size"):
        zoo.nn.LSTM(4, 6, proj_size=3)
    with pytest.raises(ValueError, match="argument 'h0'"):
        torch.ops.zoo.gru_layer(torch.randn(2, 3, 12), torch.randn(12, 4), torch.randn(12), torch.randn(2, 4), None)
    with pytest.raises(ValueError, match="argument 'nonlinearity'"):
        zoo.nn.RNN(4, 6, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="argument 'nonlinearity'"):
        zoo.ops.rnn_layer_reference(torch.randn(2, 3, 4), torch.randn(4, 4), torch.randn(4, 4), None, None,
                                    torch.randn(3, 4), nonlinearity="gelu")
    with pytest.raises(ValueError, match="argument 'nonlinearity'"):
        torch.ops.zoo.rnn_layer(torch.randn(2, 3, 4), torch.randn(4, 4), torch.randn(3, 4), None, "gelu")
    with pytest.raises(ValueError, match="argument 'lengths'"):
        torch.ops.zoo.gru_layer(torch.randn(2, 3, 12), torch.randn(12, 4), torch.randn(12), torch.randn(3, 4),
                                torch.tensor([1, 2, 9]))
