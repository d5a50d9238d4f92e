"""Recurrent cases: the LSTM/GRU shapes named in the recurrent issue, (T, B, I, H, layers, bidirectional).

FLOPs per layer and direction: 2*T*B*G*H*(I + H) for the input and hidden
products (G = 4 gates for LSTM, 3 for GRU); the backward counts twice that.
"""

from __future__ import annotations

import torch
from torch import nn

import zoo
from zoo.bench.cases import OpCase

SHAPES = [(100, 32, 256, 256, 1, False), (50, 8, 128, 128, 2, True), (200, 64, 512, 512, 1, False),
          (20, 1, 64, 64, 1, False)]
QUICK_SHAPES = [(50, 8, 128, 128, 2, True), (20, 1, 64, 64, 1, False)]
KINDS = {"lstm": (zoo.nn.LSTM, nn.LSTM, 4), "gru": (zoo.nn.GRU, nn.GRU, 3)}


def _case(kind, t, b, i, h, layers, bidirectional) -> OpCase:
    ours_cls, torch_cls, gates = KINDS[kind]
    config = dict(input_size=i, hidden_size=h, num_layers=layers, bidirectional=bidirectional)
    torch.manual_seed(0)
    reference = torch_cls(**config)
    ours = ours_cls(**config)
    ours.load_state_dict(reference.state_dict())
    names = [name for name, _ in reference.named_parameters()]

    def make_inputs(device, dtype):
        # The weights are inputs too, so the correctness gate and fwd+bwd cover their gradients.
        x = torch.randn(t, b, i, generator=torch.Generator().manual_seed(0))
        return tuple(p.detach().to(device, dtype) for p in (x, *reference.parameters()))

    def run(module):
        return lambda x, *weights: torch.func.functional_call(module, dict(zip(names, weights)), (x,))[0]

    def flops(direction: str, dtype: torch.dtype) -> float:
        directions = 2 if bidirectional else 1
        total = sum(2 * t * b * gates * h * ((i if layer == 0 else h * directions) + h) * directions
                    for layer in range(layers))
        return total if direction == "fwd" else 3 * total

    return OpCase(
        family=kind,
        name=f"T{t} B{b} I{i} H{h} layers{layers}{' bidir' if bidirectional else ''}",
        make_inputs=make_inputs,
        zoo=run(ours),
        torch=run(reference),
        reference=run(reference),  # torch.nn in float64 is the oracle
        work=flops,
    )


def cases_for(kind: str):
    def cases(specs: list | None = None, quick: bool = False) -> list[OpCase]:
        """Cases from `specs` ([T, B, I, H, layers, bidirectional] each), else the quick or full preset."""
        return [_case(kind, *spec) for spec in (specs or (QUICK_SHAPES if quick else SHAPES))]
    return cases
