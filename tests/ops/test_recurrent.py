"""LSTM/GRU/RNN: zoo.nn against torch.nn with the same weights (float64 and float32), packed sequences, initial
states, gradcheck and opcheck of the layer ops, torch.compile, cells, and errors that name the argument."""

from __future__ import annotations

import functools
import unittest.mock

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import zoo
from zoo.check import within_flash_rule
from zoo.ops import backend
from zoo.ops import recurrent as recurrent_ops
from zoo.tolerances import tolerance

from ..conftest import CUDA, DEVICES

PAIRS = [(zoo.nn.LSTM, nn.LSTM), (zoo.nn.GRU, nn.GRU), (zoo.nn.RNN, nn.RNN),
         (functools.partial(zoo.nn.RNN, nonlinearity="relu"), functools.partial(nn.RNN, nonlinearity="relu"))]
PAIR_IDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
CONFIGS = [
    dict(input_size=5, hidden_size=6),
    dict(input_size=4, hidden_size=7, num_layers=2, bidirectional=True),
    dict(input_size=3, hidden_size=5, num_layers=3, batch_first=True, bias=False),
    dict(input_size=6, hidden_size=33, num_layers=2, bidirectional=True, batch_first=True),  # odd hidden size
    dict(input_size=6, hidden_size=224),  # steps large enough to split over threads (B * gates * H * H >= 2**17)
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


LAYER_CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


def layer_case(cell, dtype, device, with_lengths, size=(6, 3, 5)):
    """Inputs of one layer op (by default T=6, B=3, odd H=5; lengths T, 2, 0, T, 2, ...) and upstream gradients
    for all its outputs."""
    gates, (t, b, h) = {"lstm": 4, "gru": 3}.get(cell, 1), size
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(shape, generator=g, dtype=torch.float64).to(device, dtype)

    inputs = dict(x_proj=r(t, b, gates * h), w_hh=r(gates * h, h) / 2, b_hh=r(3 * h) if cell == "gru" else None,
                  h0=r(b, h), c0=r(b, h) if cell == "lstm" else None,
                  lengths=torch.tensor(([t, 2, 0] * b)[:b]) if with_lengths else None)
    upstream = dict(grad_out=r(t, b, h), grad_h_n=r(b, h), grad_c_n=r(b, h) if cell == "lstm" else None)
    return inputs, upstream


def _grads(outputs, upstream, wrt):
    """Outputs, then the gradients of wrt, given the upstream gradients of the outputs."""
    grads = torch.autograd.grad(outputs, wrt, [upstream[k] for k in ("grad_out", "grad_h_n", "grad_c_n")][:len(outputs)])
    return [*outputs, *grads]


def _wrt(cell, inputs):
    names = ["x_proj", "w_hh", *(["b_hh"] if cell == "gru" else []), "h0", *(["c0"] if cell == "lstm" else [])]
    return {n: inputs[n].detach().requires_grad_() for n in names}


def layer_reference(cell, inputs, upstream):
    """The layer's outputs and input gradients by the pure-PyTorch recurrences, in the inputs' dtype."""
    x = _wrt(cell, inputs)
    if cell == "lstm":
        outputs = recurrent_ops._lstm_reference(x["x_proj"], x["w_hh"], x["h0"], x["c0"], inputs["lengths"])
    elif cell == "gru":
        outputs = recurrent_ops._gru_reference(x["x_proj"], x["w_hh"], x["b_hh"], x["h0"], inputs["lengths"])
    else:
        outputs = recurrent_ops._rnn_reference(x["x_proj"], x["w_hh"], x["h0"], inputs["lengths"], cell[4:])
    return _grads(list(outputs), upstream, list(x.values()))


def layer_op(cell, inputs, upstream):
    """The same through torch.ops.zoo.*_layer and its registered backward (our kernels on any device)."""
    x = _wrt(cell, inputs)
    if cell == "lstm":
        outputs = torch.ops.zoo.lstm_layer(x["x_proj"], x["w_hh"], x["h0"], x["c0"], inputs["lengths"])[:3]
    elif cell == "gru":
        outputs = torch.ops.zoo.gru_layer(x["x_proj"], x["w_hh"], x["b_hh"], x["h0"], inputs["lengths"])[:2]
    else:
        outputs = torch.ops.zoo.rnn_layer(x["x_proj"], x["w_hh"], x["h0"], inputs["lengths"], cell[4:])
    return _grads(list(outputs), upstream, list(x.values()))


def assert_layer_matches_float64(cell, dtype, device, with_lengths, run, size=(6, 3, 5)):
    """`run(cell, inputs, upstream)` against the float64 reference, within the flash rule."""
    inputs, upstream = layer_case(cell, dtype, device, with_lengths, size)
    ours, theirs = run(cell, inputs, upstream), layer_reference(cell, inputs, upstream)
    as64 = {k: v.double() if isinstance(v, torch.Tensor) and v.is_floating_point() else v
            for k, v in {**inputs, **upstream}.items()}
    oracle = layer_reference(cell, {k: as64[k] for k in inputs}, {k: as64[k] for k in upstream})
    ours_err, theirs_err, ok = within_flash_rule(ours, theirs, oracle, tolerance(dtype)[0])
    assert ok, f"{cell} {dtype}: our error {ours_err:.3g} > 2 x PyTorch's {theirs_err:.3g}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("cell", LAYER_CELLS)
def test_layer_ops_match_float64_reference(cell, with_lengths, dtype, device):
    if device == "cpu" and dtype in (torch.float16, torch.bfloat16):
        pytest.skip("the CPU kernels serve float32/float64; other CPU dtypes run the reference")
    assert_layer_matches_float64(cell, dtype, device, with_lengths, layer_op)


def _forward_op(cell, inputs, training):
    """The outputs of the forward op of `cell` (lstm or gru) in training or inference mode."""
    if cell == "lstm":
        return torch.ops.zoo.lstm_layer(inputs["x_proj"], inputs["w_hh"], inputs["h0"], inputs["c0"],
                                        inputs["lengths"], training)
    return torch.ops.zoo.gru_layer(inputs["x_proj"], inputs["w_hh"], inputs["b_hh"], inputs["h0"], inputs["lengths"],
                                   training)


_LAYERS = {"lstm": (4, zoo.ops.lstm_layer, recurrent_ops.lstm_layer_reference),
           "gru": (3, zoo.ops.gru_layer, recurrent_ops.gru_layer_reference),
           "tanh": (1, zoo.ops.rnn_layer, recurrent_ops.rnn_layer_reference),
           "relu": (1, zoo.ops.rnn_layer, recurrent_ops.rnn_layer_reference)}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("lengths", [None, [6, 2, 3, 1], [6, 0, 3, 1]], ids=["full", "lengths", "a-zero-length"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("kind", list(_LAYERS))
def test_reference_backend_runs_pytorchs_fused_layer(kind, bias, lengths, dtype, device, monkeypatch):
    """Off our kernels (ZOO_KERNELS=torch; auto on CUDA and for CPU half types) a layer runs once through
    PyTorch's fused op (cuDNN on CUDA), packed by the lengths, and matches the step loop computed in float64;
    a zero length, which PyTorch's packing refuses, takes the step loop."""
    gates, layer, loop = _LAYERS[kind]
    g = torch.Generator().manual_seed(0)
    t, b, i, h = 6, 4, 3, 5
    shapes = [(t, b, i), (gates * h, i), (gates * h, h), *([(gates * h,)] * 2 if bias else [None] * 2),
              *[(b, h)] * (2 if kind == "lstm" else 1)]
    args64 = [None if s is None else torch.randn(s, generator=g, dtype=torch.float64).requires_grad_() for s in shapes]
    args = [None if a is None else a.detach().to(device, dtype).requires_grad_() for a in args64]
    lengths = None if lengths is None else torch.tensor(lengths)
    kw = {} if kind in ("lstm", "gru") else {"nonlinearity": kind}
    calls = []
    fused = recurrent_ops._PYTORCH_OPS[kind]
    monkeypatch.setitem(recurrent_ops._PYTORCH_OPS, kind, lambda *a: calls.append(1) or fused(*a))
    with backend("torch"):
        ours = layer(*args, lengths, **kw)
    assert len(calls) == (0 if lengths is not None and 0 in lengths else 1)
    theirs, oracle = loop(*args, lengths, **kw), loop(*args64, lengths, **kw)  # the loop in our dtype, in float64
    upstream = [torch.randn(o.shape, generator=g, dtype=torch.float64) for o in oracle]

    def with_grads(outputs, inputs):
        grads = torch.autograd.grad(outputs, [a for a in inputs if a is not None],
                                    [u.to(outputs[0].device, outputs[0].dtype) for u in upstream])
        return [*outputs, *grads]

    ours_err, theirs_err, ok = within_flash_rule(with_grads(ours, args), with_grads(theirs, args),
                                                 with_grads(oracle, args64), tolerance(dtype)[0])
    assert ok, f"{kind} {dtype}: error {ours_err:.3g} > 2 x the step loop's {theirs_err:.3g}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("lengths", [None, [6, 2, 3, 1], [6, 0, 3, 1]], ids=["full", "lengths", "a-zero-length"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_projected_lstm_layer_matches_float64_step_loop(bias, lengths, device):
    """proj_size: h = (o * tanh(c)) W_hr^T, P wide; the layer runs PyTorch's fused LSTM."""
    g = torch.Generator().manual_seed(0)
    t, b, i, h, p = 6, 4, 3, 5, 2
    shapes = [(t, b, i), (4 * h, i), (4 * h, p), *([(4 * h,)] * 2 if bias else [None] * 2), (b, p), (b, h), (p, h)]
    args = [None if s is None else torch.randn(s, generator=g, dtype=torch.float64).to(device).requires_grad_()
            for s in shapes]
    *layer_args, w_hr = args
    lengths = None if lengths is None else torch.tensor(lengths)
    with backend("ext"):
        ours = zoo.ops.lstm_layer(*layer_args, lengths, w_hr=w_hr)
    oracle = recurrent_ops.lstm_layer_reference(*layer_args, lengths, w_hr)
    assert [o.shape for o in ours] == [(t, b, p), (b, p), (b, h)]
    upstream = [torch.randn(o.shape, generator=g, dtype=torch.float64).to(device) for o in oracle]
    leaves = [a for a in args if a is not None]
    for got, want in zip([*ours, *torch.autograd.grad(ours, leaves, upstream)],
                         [*oracle, *torch.autograd.grad(oracle, leaves, upstream)]):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("config", [dict(num_layers=2, bidirectional=True), dict(batch_first=True, bias=False)],
                         ids=str)
def test_projected_lstm_matches_torch_nn(config):
    ref = nn.LSTM(4, 7, proj_size=3, dtype=torch.float64, **config)
    ours = zoo.nn.LSTM(4, 7, proj_size=3, dtype=torch.float64, **config)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in ref.named_parameters()]
    ours.load_state_dict(ref.state_dict())
    assert "proj_size=3" in repr(ours)
    batch_first = config.get("batch_first", False)
    x = torch.randn((2, 5, 4) if batch_first else (5, 2, 4), dtype=torch.float64)
    states = 2 * config.get("num_layers", 1) if config.get("bidirectional") else config.get("num_layers", 1)
    hx = (torch.randn(states, 2, 3, dtype=torch.float64), torch.randn(states, 2, 7, dtype=torch.float64))
    packed = pack_padded_sequence(x, torch.tensor([5, 2]), batch_first=batch_first, enforce_sorted=False)
    for args in [(x,), (x, hx), (packed, hx)]:
        for a, b in zip(*run_both(ours, ref, *args)):
            torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match=r"argument 'hx' must have shape \(\d+, 2, 3\)"):
        ours(x, (hx[1], hx[1]))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_inference_saves_nothing_and_computes_the_same(cell, device):
    inputs, _ = layer_case(cell, torch.float32, device, True)
    with backend("ext"):
        trained, inferred = _forward_op(cell, inputs, True), _forward_op(cell, inputs, False)
    results = 3 if cell == "lstm" else 2  # out, h_n (, c_n); then what the backward needs
    for ours, theirs in zip(inferred[:results], trained[:results]):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    assert all(saved.numel() == 0 for saved in inferred[results:])
    assert all(saved.numel() > 0 for saved in trained[results:])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_inference_mode_refuses_a_backward(cell):
    inputs, _ = layer_case(cell, torch.float32, "cpu", False)
    x_proj = inputs["x_proj"].requires_grad_()
    with pytest.raises(RuntimeError, match=f"zoo::{cell}_layer was called with training=False"):
        _forward_op(cell, {**inputs, "x_proj": x_proj}, False)[0].sum().backward()


def test_modules_skip_saving_without_autograd():
    """zoo.nn.LSTM asks the op for what the backward needs only when autograd will use it."""
    lstm, x = zoo.nn.LSTM(4, 6), torch.randn(5, 2, 4)
    op, modes = torch.ops.zoo.lstm_layer.default, []

    def spy(*args):
        modes.append(args[-1])
        return op(*args)

    with backend("ext"), unittest.mock.patch.object(torch.ops.zoo.lstm_layer, "default", spy):
        with torch.no_grad():
            lstm(x)
        lstm(x)
    assert modes == [False, True]


@pytest.mark.parametrize("onednn_faster", [True, False])
def test_auto_leaves_lstm_batches_onednn_runs_faster_to_it(monkeypatch, onednn_faster):
    """`auto` runs PyTorch's fused LSTM where oneDNN is measured faster (an x86 CPU, float32, a batch of
    ONEDNN_MIN_BATCH or more), ours elsewhere and while compiling; `ext` always runs ours. Each equals torch.nn."""
    monkeypatch.setattr(recurrent_ops, "ONEDNN_LSTM_IS_FASTER", onednn_faster)
    op, batches = torch.ops.zoo.lstm_layer.default, []

    def spy(*args):
        batches.append((args[0].shape[1], args[0].dtype))
        return op(*args)

    big = recurrent_ops.ONEDNN_MIN_BATCH
    products = [(b, dtype) for b in (big - 1, big) for dtype in (torch.float32, torch.float64)]
    with unittest.mock.patch.object(torch.ops.zoo.lstm_layer, "default", spy):
        for mode in ("auto", "ext"):
            for b, dtype in products:
                ours, ref = pair(zoo.nn.LSTM, nn.LSTM, dict(input_size=5, hidden_size=6), dtype)
                x = torch.randn(3, b, 5, dtype=dtype)
                atol, rtol = tolerance(dtype)
                with backend(mode):
                    torch.testing.assert_close(ours(x), ref(x), atol=atol, rtol=rtol)
    faster = [(b, dtype) for b, dtype in products if onednn_faster and b >= big and dtype == torch.float32]
    assert batches == [p for p in products if p not in faster] + products
    with backend("auto"):  # traced, PyTorch's path would be a step loop: ours stays
        program = torch.export.export(zoo.nn.LSTM(5, 6), (torch.randn(3, big, 5),))
    assert "zoo.lstm_layer" in str(program.graph)


@CUDA
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("cell", LAYER_CELLS)
def test_cuda_large_batch_takes_the_per_step_kernels(cell, dtype):
    """B = 20 is past the persistent kernels' batch limit (16), which the other CUDA cases stay under."""
    assert_layer_matches_float64(cell, dtype, "cuda", True, layer_op, size=(5, 20, 33))


@pytest.mark.parametrize("mode", ["ext", "torch"])
@pytest.mark.parametrize("cls", [zoo.nn.GRU, zoo.nn.LSTM], ids=["gru", "lstm"])
def test_torch_compile_on_a_module(cls, mode):
    """On the reference backend too: compiling traces the step loop (inductor fails on PyTorch's fused CPU LSTM)."""
    model = cls(4, 8, num_layers=2, batch_first=True)
    x = torch.randn(2, 5, 4)
    with backend(mode):
        torch.testing.assert_close(torch.compile(model, fullgraph=True)(x)[0], model(x)[0])


def test_errors_name_the_argument():
    lstm = zoo.nn.LSTM(4, 6, num_layers=2)
    with pytest.raises(ValueError, match="argument 'input' must have input_size = 4"):
        lstm(torch.randn(5, 2, 3))
    with pytest.raises(ValueError, match=r"argument 'hx' must have shape \(2, 2, 6\)"):
        lstm(torch.randn(5, 2, 4), (torch.zeros(1, 2, 6), torch.zeros(1, 2, 6)))
    with pytest.raises(ValueError, match=r"argument 'proj_size' must be in \[0, hidden_size = 6\)"):
        zoo.nn.LSTM(4, 6, proj_size=6)
    with pytest.raises(ValueError, match="argument 'w_hr'"):
        zoo.ops.lstm_layer(torch.randn(2, 3, 4), torch.randn(24, 4), torch.randn(24, 3), None, None,
                           torch.zeros(3, 3), torch.zeros(3, 6), w_hr=torch.randn(2, 6))
    with pytest.raises(ValueError, match="argument 'c0'"):
        zoo.ops.lstm_layer(torch.randn(2, 3, 4), torch.randn(24, 4), torch.randn(24, 3), None, None,
                           torch.zeros(3, 3), torch.zeros(3, 3), w_hr=torch.randn(3, 6))
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
    with backend("torch"), pytest.raises(ValueError, match=r"zoo.gru_layer: argument 'lengths' must lie in \[0, T = 2\]"):
        zoo.ops.gru_layer(torch.randn(2, 3, 4), torch.randn(12, 4), torch.randn(12, 4), None, None, torch.randn(3, 4),
                          torch.tensor([1, 2, 9]))
