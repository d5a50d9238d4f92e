"""The MLP tower every model here uses: Linear + ReLU layers on zoo's bias_act kernel."""

from __future__ import annotations

from typing import Sequence

from torch import nn

from zoo.nn import Linear, LinearAct


def mlp(in_features: int, widths: Sequence[int], *, last_activation: bool = True) -> nn.Sequential:
    """in_features -> widths[0] -> ... -> widths[-1], ReLU after every layer (after the last if asked)."""
    layers: list[nn.Module] = []
    for i, width in enumerate(widths):
        last = i == len(widths) - 1
        layers.append(LinearAct(in_features, width) if last_activation or not last else Linear(in_features, width))
        in_features = width
    return nn.Sequential(*layers)
