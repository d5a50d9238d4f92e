"""Local weights for zoo.load: read a checkpoint from disk and load it strictly.

Offline by design: nothing here touches the network. Pickle-based files are read
only with torch.load(weights_only=True).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pt", ".pth", ".bin")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors in a .safetensors file, or a .pt/.pth/.bin state_dict read with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"argument 'weights': no such file {str(path)!r}")
    if path.suffix in SAFE_SUFFIXES:
        from safetensors.torch import load_file

        return load_file(str(path))
    if path.suffix in PICKLE_SUFFIXES:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"argument 'weights': {str(path)!r} holds a {type(state).__name__}, expected a state_dict")
        return state
    raise ValueError(
        f"argument 'weights': unsupported file type {path.suffix!r}; expected one of "
        f"{', '.join(SAFE_SUFFIXES + PICKLE_SUFFIXES)}"
    )


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load `path` into `model` strictly: missing, unexpected and mis-shaped tensors are errors naming each."""
    state = read_state_dict(path)
    own = model.state_dict()
    problems = [f"missing: {k}" for k in own if k not in state]
    problems += [f"unexpected: {k}" for k in state if k not in own]
    problems += [
        f"shape of {k}: checkpoint {tuple(state[k].shape)}, model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if problems:
        raise ValueError(f"weights {str(path)!r} do not fit the model:\n  " + "\n  ".join(problems))
    model.load_state_dict(state)
    return model
