"""LSTM, GRU and RNN on zoo's recurrent kernels: drop-in for torch.nn (same arguments, same parameter names).

They register the parameters torch.nn.LSTM / GRU / RNN have, in the same order and
with the same initialisation, so their state_dicts load unchanged. They are not
nn.RNNBase subclasses because torch.compile refuses to trace those. Multi-layer,
bidirectional, batch_first, initial states, dropout between layers and
PackedSequence input are supported; a packed batch runs with per-sequence
lengths inside the kernel, so no step is spent on padding. An LSTM with
proj_size > 0 runs PyTorch's fused LSTM (our kernels do not project h).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from zoo.ops.recurrent import gru_layer, lstm_layer, rnn_layer


def _reverse_in_time(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """x (T, B, F) with each sequence reversed within its own length (an involution)."""
    if lengths is None:
        return x.flip(0)
    t = torch.arange(x.shape[0]).unsqueeze(1)
    lengths = lengths.unsqueeze(0)
    index = torch.where(t < lengths, lengths - 1 - t, t).to(x.device)
    return x.gather(0, index.unsqueeze(-1).expand_as(x))


class _Recurrent(nn.Module):
    """The parameters and the layer/direction loop shared by LSTM and GRU; subclasses define
    `gates`, `num_states` and `_layer`, one layer's run."""

    proj_size = 0  # an LSTM's projection: h is then proj_size wide, c stays hidden_size
    weight_names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        super().__init__()
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"argument 'dropout' must be in [0, 1], got {dropout}")
        if hidden_size < 1 or num_layers < 1:
            raise ValueError(f"arguments 'hidden_size' and 'num_layers' must be positive, got {hidden_size}, {num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, float(dropout), bidirectional
        factory = dict(device=device, dtype=dtype)
        directions = 2 if bidirectional else 1
        width = self.proj_size or hidden_size  # of h, and so of each layer's output
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else width * directions
            for direction in range(directions):
                suffix = f"_l{layer}{'_reverse' if direction else ''}"
                shapes = [("weight_ih", (self.gates * hidden_size, layer_input)),
                          ("weight_hh", (self.gates * hidden_size, width))]
                if bias:
                    shapes += [("bias_ih", (self.gates * hidden_size,)), ("bias_hh", (self.gates * hidden_size,))]
                if self.proj_size:
                    shapes.append(("weight_hr", (self.proj_size, hidden_size)))
                for name, shape in shapes:
                    self.register_parameter(name + suffix, nn.Parameter(torch.empty(shape, **factory)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as torch.nn initialises them."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, bias={self.bias}, "
                f"batch_first={self.batch_first}, dropout={self.dropout}, bidirectional={self.bidirectional}"
                + (f", proj_size={self.proj_size}" if self.proj_size else ""))

    def forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        lengths = None
        if packed:
            x, lengths = pad_packed_sequence(input)
        elif input.dim() == 2:
            x = input.unsqueeze(1)
        elif input.dim() == 3:
            x = input.transpose(0, 1) if self.batch_first else input
        else:
            raise ValueError(f"argument 'input' must be 2-D, 3-D or a PackedSequence, got {input.dim()}-D")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"argument 'input' must have input_size = {self.input_size} features, got {x.shape[-1]}")
        states = self._initial_states(x, hx, unbatched=not packed and input.dim() == 2)
        directions = 2 if self.bidirectional else 1
        finals = [[] for _ in range(self.num_states)]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                suffix = f"_l{layer}{'_reverse' if direction else ''}"
                weights = [getattr(self, f"{name}{suffix}", None) for name in self.weight_names]
                index = layer * directions + direction
                seq = layer_input if direction == 0 else _reverse_in_time(layer_input, lengths)
                out, *last = self._layer(seq, weights, [s[index] for s in states], lengths)
                outputs.append(out if direction == 0 else _reverse_in_time(out, lengths))
                for final, state in zip(finals, last):
                    final.append(state)
            layer_input = torch.cat(outputs, dim=-1) if directions > 1 else outputs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout)
        finals = [torch.stack(f) for f in finals]
        return self._format(input, layer_input, finals, lengths)

    def _initial_states(self, x, hx, unbatched: bool):
        layers = self.num_layers * (2 if self.bidirectional else 1)
        shapes = [(layers, x.shape[1], width) for width in (self.proj_size or self.hidden_size, self.hidden_size)]
        shapes = shapes[:self.num_states]  # h, then an LSTM's c
        if hx is None:
            return [x.new_zeros(shape) for shape in shapes]
        hx = list(hx) if isinstance(hx, (tuple, list)) else [hx]
        if len(hx) != self.num_states:
            raise ValueError(f"argument 'hx' must hold {self.num_states} tensor(s), got {len(hx)}")
        hx = [h.unsqueeze(1) if unbatched else h for h in hx]
        for h, shape in zip(hx, shapes):
            if tuple(h.shape) != shape:
                raise ValueError(f"argument 'hx' must have shape {shape}, got {tuple(h.shape)}")
        return hx

    def _format(self, input, output, finals, lengths):
        if isinstance(input, PackedSequence):
            order = input.sorted_indices if input.sorted_indices is not None else torch.arange(output.shape[1])
            data = pack_padded_sequence(output.index_select(1, order.to(output.device)), lengths[order]).data
            output = PackedSequence(data, input.batch_sizes, input.sorted_indices, input.unsorted_indices)
        elif input.dim() == 2:
            output, finals = output.squeeze(1), [f.squeeze(1) for f in finals]
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, (tuple(finals) if self.num_states > 1 else finals[0])


class LSTM(_Recurrent):
    """torch.nn.LSTM on zoo's fused LSTM kernel; with proj_size > 0 on PyTorch's (ours does not project)."""

    gates, num_states = 4, 2
    weight_names = (*_Recurrent.weight_names, "weight_hr")

    def __init__(self, input_size: int, hidden_size: int, *args, proj_size: int = 0, **kwargs):
        if not 0 <= proj_size < hidden_size:
            raise ValueError(f"argument 'proj_size' must be in [0, hidden_size = {hidden_size}), got {proj_size}")
        self.proj_size = proj_size
        super().__init__(input_size, hidden_size, *args, **kwargs)

    def _layer(self, x, weights, states, lengths):
        *weights, w_hr = weights
        return lstm_layer(x, *weights, *states, lengths, w_hr=w_hr)


class GRU(_Recurrent):
    """torch.nn.GRU on zoo's fused GRU kernel."""

    gates, num_states = 3, 1

    def _layer(self, x, weights, states, lengths):
        return gru_layer(x, *weights, *states, lengths)


class RNN(_Recurrent):
    """torch.nn.RNN (tanh or relu) on zoo's fused RNN kernel."""

    gates, num_states = 1, 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 *args, **kwargs):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"argument 'nonlinearity' must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, *args, **kwargs)

    def _layer(self, x, weights, states, lengths):
        return rnn_layer(x, *weights, *states, lengths, nonlinearity=self.nonlinearity)


class LSTMCell(nn.LSTMCell):
    """torch.nn.LSTMCell on zoo's LSTM kernel (one time step)."""

    def forward(self, input, hx=None):
        batched = input.dim() == 2
        x = (input if batched else input.unsqueeze(0)).unsqueeze(0)
        if hx is None:
            h = c = x.new_zeros(x.shape[1], self.hidden_size)
        else:
            h, c = (s if batched else s.unsqueeze(0) for s in hx)
        _, h, c = lstm_layer(x, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, h, c)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(nn.GRUCell):
    """torch.nn.GRUCell on zoo's GRU kernel (one time step)."""

    def forward(self, input, hx=None):
        batched = input.dim() == 2
        x = (input if batched else input.unsqueeze(0)).unsqueeze(0)
        h = x.new_zeros(x.shape[1], self.hidden_size) if hx is None else (hx if batched else hx.unsqueeze(0))
        _, h = gru_layer(x, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, h)
        return h if batched else h.squeeze(0)


class RNNCell(nn.RNNCell):
    """torch.nn.RNNCell on zoo's RNN kernel (one time step)."""

    def forward(self, input, hx=None):
        batched = input.dim() == 2
        x = (input if batched else input.unsqueeze(0)).unsqueeze(0)
        h = x.new_zeros(x.shape[1], self.hidden_size) if hx is None else (hx if batched else hx.unsqueeze(0))
        _, h = rnn_layer(x, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, h, nonlinearity=self.nonlinearity)
        return h if batched else h.squeeze(0)
