"""LSTM, GRU and Elman RNN layers: one layer, one direction, time-major, on our fused recurrent kernels.

Python half of csrc/recurrent/. The input projection x W_ih^T + b for all time
steps is one GEMM here (zoo.ops.linear, our GEMM, so autograd covers W_ih and the biases); the
recurrence with its fused gate math and our own backward through time run in
zoo::lstm_layer / gru_layer / rnn_layer (autograd: csrc/recurrent/recurrent_autograd.cpp). `lengths`
(int64, CPU) makes steps past each sequence's end no-ops: state carried, output 0, as packed sequences need.

Where our kernel does not run (ZOO_KERNELS=torch; CUDA under auto, where cuDNN is faster; an LSTM
batch of 8 or more under auto on an x86 CPU, where oneDNN is; CPU dtypes other than
float32/float64), a layer runs on PyTorch's own fused op (torch.lstm, torch.gru,
torch.rnn_tanh/relu: cuDNN on CUDA), packed by `lengths`. The step-by-step loops below are the
test oracles, and serve the empty cases those ops refuse.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from zoo.ops import _extension
from zoo.ops.backend import cpu_vendor, use_kernel
from zoo.ops.linear import linear

KERNEL_DEVICES = ("cpu", "meta", "cuda")
# Our CUDA kernels pass their tests on an H200 (.ci/gpu) but run far slower there than PyTorch's
# own CUDA ops (README, "On a GPU"): `auto` runs PyTorch's own ops on CUDA tensors; `ext` runs ours.
EXT_ONLY_DEVICES = ("cuda",)
# PyTorch's fused CPU LSTM is oneDNN's, which runs float32 batches of 8 and more faster than ours on
# Intel and AMD CPUs alike. torch.nn.LSTM's time over ours side by side, 2 cores (README, "LSTM against
# oneDNN"; T50, H = I = 128/256/512), batch 8-16: Xeon 0.75-0.91x forward, 0.78-0.88x forward+backward;
# EPYC 0.64-0.86x, 0.74-0.95x (two runs); batch 1-4 mixed on both. `auto` leaves those to PyTorch; `ext` runs ours.
ONEDNN_LSTM_IS_FASTER = torch.backends.mkldnn.is_available() and cpu_vendor() in ("GenuineIntel", "AuthenticAMD")
ONEDNN_MIN_BATCH = 8
_RNN_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}
_PYTORCH_OPS = {"lstm": torch.lstm, "gru": torch.gru, "tanh": torch.rnn_tanh, "relu": torch.rnn_relu}


def _check(op: str, x, w_ih, w_hh, h0, gates: int, lengths=None, c0=None, w_hr=None) -> None:
    """The kernels' checks of shapes, made in Python too so that every path names the argument alike. h is P
    wide (w_hh (gates*H, P)) where an LSTM projects it (w_hr (P, H)), else H. The range of `lengths` costs a
    pass over it: _check_length_range makes it off the kernels, which check it themselves."""
    if x.dim() != 3:
        raise ValueError(f"zoo.{op}: argument 'x' must be 3-D (T, B, input_size), got {tuple(x.shape)}")
    if w_ih.shape[1] != x.shape[2]:
        raise ValueError(f"zoo.{op}: argument 'x' must have input_size {w_ih.shape[1]} features, got {x.shape[2]}")
    state = w_hh.shape[1]
    if w_hr is not None and (w_hr.dim() != 2 or w_hr.shape[0] != state):
        raise ValueError(f"zoo.{op}: argument 'w_hr' must be (P, H) with P = {state} = w_hh.shape[1], "
                         f"got {tuple(w_hr.shape)}")
    hidden = state if w_hr is None else w_hr.shape[1]
    if w_hh.shape[0] != gates * hidden or w_ih.shape[0] != gates * hidden:
        raise ValueError(f"zoo.{op}: argument 'w_hh' must be ({gates}*H, {'H' if w_hr is None else 'P'}) with "
                         f"w_ih ({gates}*H, I), got {tuple(w_hh.shape)} and {tuple(w_ih.shape)}")
    if h0.shape != (x.shape[1], state):
        raise ValueError(f"zoo.{op}: argument 'h0' must be (B, {'H' if w_hr is None else 'P'}) = "
                         f"{(x.shape[1], state)}, got {tuple(h0.shape)}")
    if c0 is not None and c0.shape != (x.shape[1], hidden):
        raise ValueError(f"zoo.{op}: argument 'c0' must be (B, H) = {(x.shape[1], hidden)}, got {tuple(c0.shape)}")
    if lengths is not None:
        if lengths.shape != (x.shape[1],) or lengths.dtype != torch.int64 or lengths.device.type != "cpu":
            raise ValueError(f"zoo.{op}: argument 'lengths' must be a 1-D int64 CPU tensor of B = {x.shape[1]} "
                             f"lengths, got {tuple(lengths.shape)} {lengths.dtype} on {lengths.device}")


def _check_length_range(op: str, x, lengths) -> None:
    if lengths is not None and lengths.numel() and not 0 <= int(lengths.min()) <= int(lengths.max()) <= x.shape[0]:
        raise ValueError(f"zoo.{op}: argument 'lengths' must lie in [0, T = {x.shape[0]}]")


def _folded_projection(x, w_ih, b_ih, b_hh, project=F.linear):
    """x W_ih^T + b_ih + b_hh for all steps in one GEMM (LSTM and RNN add both biases outside the recurrence);
    `project` is zoo.ops.linear in the ops, F.linear in the references."""
    return project(x, w_ih, None if b_ih is None else b_ih + b_hh)


def _check_nonlinearity(nonlinearity: str) -> None:
    if nonlinearity not in _RNN_ACTIVATIONS:
        raise ValueError(f"zoo.rnn_layer: argument 'nonlinearity' must be 'tanh' or 'relu', got {nonlinearity!r}")


def _step_mask(lengths: torch.Tensor | None, t: int, like: torch.Tensor) -> torch.Tensor | None:
    return None if lengths is None else (t < lengths.to(like.device)).unsqueeze(-1)


def _training(*tensors) -> bool:
    """Whether autograd will differentiate the layer, so its kernel must save what the backward needs;
    without, inference skips writing (T, B, 4H) of gates."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def lstm_reference_is_faster(x: torch.Tensor) -> bool:
    """Whether PyTorch's fused LSTM is measured faster than ours for this layer: oneDNN on an x86 CPU, float32,
    a batch of ONEDNN_MIN_BATCH or more. Not while tracing, where PyTorch's path is a step loop (_pytorch_layer)."""
    return (ONEDNN_LSTM_IS_FASTER and x.device.type == "cpu" and x.dtype == torch.float32
            and not torch.compiler.is_compiling() and x.shape[1] >= ONEDNN_MIN_BATCH)


def lstm_layer(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths=None, w_hr=None):
    """One LSTM layer over x (T, B, I) from (h0, c0) (B, H): returns (out (T, B, H), h_n, c_n).

    `w_hr` (P, H) projects h to P features, as torch.nn.LSTM's proj_size does (h0, h_n and out are then
    P wide). Our kernels do not project: such a layer runs PyTorch's fused op in every backend mode."""
    _check("lstm_layer", x, w_ih, w_hh, h0, 4, lengths, c0, w_hr)
    if w_hr is not None or not use_kernel(x, op="lstm", kernel_devices=KERNEL_DEVICES,
                                          ext_only_devices=EXT_ONLY_DEVICES,
                                          reference_is_faster=lambda: lstm_reference_is_faster(x)):
        return _pytorch_layer("lstm", x, w_ih, w_hh, b_ih, b_hh, (h0, c0), lengths, w_hr)
    x_proj = _folded_projection(x, w_ih, b_ih, b_hh, linear)
    out, h_n, c_n, _, _ = torch.ops.zoo.lstm_layer.default(x_proj, w_hh, h0, c0, lengths,
                                                           _training(x_proj, w_hh, h0, c0))
    return out, h_n, c_n


def gru_layer(x, w_ih, w_hh, b_ih, b_hh, h0, lengths=None):
    """One GRU layer over x (T, B, I) from h0 (B, H): returns (out (T, B, H), h_n)."""
    _check("gru_layer", x, w_ih, w_hh, h0, 3, lengths)
    if not use_kernel(x, op="gru", kernel_devices=KERNEL_DEVICES, ext_only_devices=EXT_ONLY_DEVICES):
        return _pytorch_layer("gru", x, w_ih, w_hh, b_ih, b_hh, (h0,), lengths)
    x_proj = linear(x, w_ih, b_ih)
    b_hh = b_hh if b_hh is not None else w_hh.new_zeros(w_hh.shape[0])
    out, h_n, _ = torch.ops.zoo.gru_layer.default(x_proj, w_hh, b_hh, h0, lengths, _training(x_proj, w_hh, b_hh, h0))
    return out, h_n


def rnn_layer(x, w_ih, w_hh, b_ih, b_hh, h0, lengths=None, nonlinearity="tanh"):
    """One Elman RNN layer (tanh or relu) over x (T, B, I) from h0 (B, H): returns (out (T, B, H), h_n)."""
    _check("rnn_layer", x, w_ih, w_hh, h0, 1, lengths)
    _check_nonlinearity(nonlinearity)
    if not use_kernel(x, op="rnn", kernel_devices=KERNEL_DEVICES, ext_only_devices=EXT_ONLY_DEVICES):
        return _pytorch_layer(nonlinearity, x, w_ih, w_hh, b_ih, b_hh, (h0,), lengths)
    return torch.ops.zoo.rnn_layer.default(_folded_projection(x, w_ih, b_ih, b_hh, linear), w_hh, h0, lengths,
                                           nonlinearity)


def _pytorch_layer(kind, x, w_ih, w_hh, b_ih, b_hh, states, lengths, w_hr=None):
    """One layer, one direction on PyTorch's fused op for `kind` ('lstm', 'gru', 'tanh', 'relu'), packed by `lengths`:
    returns (out, *final states) as our kernels do. The step loop serves empty inputs and zero lengths, which
    those ops refuse, and torch.compile / torch.export, which trace it where inductor fails on the fused CPU
    LSTM (aten.mkldnn_rnn_layer, torch 2.14)."""
    _check_length_range("rnn_layer" if kind in _RNN_ACTIVATIONS else f"{kind}_layer", x, lengths)
    refused = x.shape[0] == 0 or x.shape[1] == 0 or (lengths is not None and bool((lengths == 0).any()))
    if refused or torch.compiler.is_compiling():
        return _composed_layer(kind, x, w_ih, w_hh, b_ih, b_hh, states, lengths, w_hr)
    has_biases = b_ih is not None or b_hh is not None
    params = [w_ih, w_hh]
    if has_biases:
        params += [b if b is not None else w_hh.new_zeros(w_hh.shape[0]) for b in (b_ih, b_hh)]
    if w_hr is not None:  # PyTorch tells a projection by h0 being narrower than c0
        params.append(w_hr)
    run = _PYTORCH_OPS[kind]
    # cuDNN keeps what its backward needs only when told it is training
    flags = (has_biases, 1, 0.0, _training(x, w_ih, w_hh, b_ih, b_hh, w_hr, *states), False)
    hx = [s.unsqueeze(0) for s in states]
    if lengths is None:
        out, *finals = run(x, hx if kind == "lstm" else hx[0], params, *flags, False)
        return (out, *(f.squeeze(0) for f in finals))
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    hx = [h.index_select(1, packed.sorted_indices.to(h.device)) for h in hx]
    data, *finals = run(packed.data, packed.batch_sizes, hx if kind == "lstm" else hx[0], params, *flags)
    out, _ = pad_packed_sequence(packed._replace(data=data), total_length=x.shape[0])
    return (out, *(f.squeeze(0).index_select(0, packed.unsorted_indices.to(f.device)) for f in finals))


def _composed_layer(kind, x, w_ih, w_hh, b_ih, b_hh, states, lengths, w_hr=None):
    if kind == "lstm":
        return lstm_layer_reference(x, w_ih, w_hh, b_ih, b_hh, *states, lengths, w_hr)
    if kind == "gru":
        return gru_layer_reference(x, w_ih, w_hh, b_ih, b_hh, *states, lengths)
    return rnn_layer_reference(x, w_ih, w_hh, b_ih, b_hh, *states, lengths, nonlinearity=kind)


def _lstm_reference(x_proj, w_hh, h, c, lengths, w_hr=None):
    outs = []
    for t in range(x_proj.shape[0]):
        i, f, g, o = (x_proj[t] + h @ w_hh.T).chunk(4, dim=-1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        if w_hr is not None:
            h_new = h_new @ w_hr.T
        keep = _step_mask(lengths, t, h)
        if keep is not None:
            h_new, c_new, out = torch.where(keep, h_new, h), torch.where(keep, c_new, c), torch.where(keep, h_new, 0.0)
        else:
            out = h_new
        h, c = h_new, c_new
        outs.append(out)
    return _stack(outs, h), h, c


def _gru_reference(x_proj, w_hh, b_hh, h, lengths):
    outs = []
    for t in range(x_proj.shape[0]):
        xr, xz, xn = x_proj[t].chunk(3, dim=-1)
        hr, hz, hn = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        h_new = (1 - z) * torch.tanh(xn + r * hn) + z * h
        keep = _step_mask(lengths, t, h)
        out = h_new if keep is None else torch.where(keep, h_new, 0.0)
        h = h_new if keep is None else torch.where(keep, h_new, h)
        outs.append(out)
    return _stack(outs, h), h


def _rnn_reference(x_proj, w_hh, h, lengths, nonlinearity):
    outs = []
    for t in range(x_proj.shape[0]):
        h_new = _RNN_ACTIVATIONS[nonlinearity](x_proj[t] + h @ w_hh.T)
        keep = _step_mask(lengths, t, h)
        outs.append(h_new if keep is None else torch.where(keep, h_new, 0.0))
        h = h_new if keep is None else torch.where(keep, h_new, h)
    return _stack(outs, h), h


def _stack(outs, h):
    return torch.stack(outs) if outs else h.new_empty(0, *h.shape)


def lstm_layer_reference(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths=None, w_hr=None):
    """Pure-PyTorch lstm_layer: the oracle the kernel is tested against."""
    _check("lstm_layer", x, w_ih, w_hh, h0, 4, lengths, c0, w_hr)
    _check_length_range("lstm_layer", x, lengths)
    return _lstm_reference(_folded_projection(x, w_ih, b_ih, b_hh), w_hh, h0, c0, lengths, w_hr)


def gru_layer_reference(x, w_ih, w_hh, b_ih, b_hh, h0, lengths=None):
    """Pure-PyTorch gru_layer: the oracle the kernel is tested against."""
    _check("gru_layer", x, w_ih, w_hh, h0, 3, lengths)
    _check_length_range("gru_layer", x, lengths)
    b_hh = b_hh if b_hh is not None else w_hh.new_zeros(w_hh.shape[0])
    return _gru_reference(F.linear(x, w_ih, b_ih), w_hh, b_hh, h0, lengths)


def rnn_layer_reference(x, w_ih, w_hh, b_ih, b_hh, h0, lengths=None, nonlinearity="tanh"):
    """Pure-PyTorch rnn_layer: the oracle the kernel is tested against."""
    _check("rnn_layer", x, w_ih, w_hh, h0, 1, lengths)
    _check_length_range("rnn_layer", x, lengths)
    _check_nonlinearity(nonlinearity)
    return _rnn_reference(_folded_projection(x, w_ih, b_ih, b_hh), w_hh, h0, lengths, nonlinearity)


def _fake_rnn(x_proj, w_hh, h0, lengths, nonlinearity):
    return torch.empty_like(x_proj), torch.empty_like(h0)


def _fake_rnn_backward(grad_out, grad_h_n, w_hh, h0, lengths, out, nonlinearity):
    return torch.empty_like(out), torch.empty_like(w_hh), torch.empty_like(h0)


def _saved(x_proj, training, *shape):
    """A tensor the forward saves for the backward: empty unless training, as the kernels make it."""
    return x_proj.new_empty(shape if training else (0,))


def _fake_lstm(x_proj, w_hh, h0, c0, lengths, training=True):
    t, b, _ = x_proj.shape
    h = w_hh.shape[1]
    return (x_proj.new_empty(t, b, h), torch.empty_like(h0), torch.empty_like(c0), _saved(x_proj, training, t, b, h),
            _saved(x_proj, training, t, b, 4 * h))


def _fake_lstm_backward(grad_out, grad_h_n, grad_c_n, w_hh, h0, c0, lengths, out, cells, gates):
    return torch.empty_like(gates), torch.empty_like(w_hh), torch.empty_like(h0), torch.empty_like(c0)


def _fake_gru(x_proj, w_hh, b_hh, h0, lengths, training=True):
    t, b, _ = x_proj.shape
    h = w_hh.shape[1]
    return x_proj.new_empty(t, b, h), torch.empty_like(h0), _saved(x_proj, training, t, b, 4 * h)


def _fake_gru_backward(grad_out, grad_h_n, w_hh, b_hh, h0, lengths, out, gates):
    t, b, _ = out.shape
    return out.new_empty(t, b, w_hh.shape[0]), torch.empty_like(w_hh), torch.empty_like(b_hh), torch.empty_like(h0)


@_extension.on_load
def _register() -> None:
    torch.library.register_fake("zoo::lstm_layer")(_fake_lstm)
    torch.library.register_fake("zoo::lstm_layer_backward")(_fake_lstm_backward)
    torch.library.register_fake("zoo::gru_layer")(_fake_gru)
    torch.library.register_fake("zoo::gru_layer_backward")(_fake_gru_backward)
    torch.library.register_fake("zoo::rnn_layer")(_fake_rnn)
    torch.library.register_fake("zoo::rnn_layer_backward")(_fake_rnn_backward)
