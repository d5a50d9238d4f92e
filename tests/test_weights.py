"""Local weights: strict loading that names every problem, and no unsafe unpickling."""

from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from zoo.weights import load_weights, read_state_dict


def model():
    return nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))


def test_safetensors_and_pt_round_trip(tmp_path):
    source = model()
    for path in (tmp_path / "w.safetensors", tmp_path / "w.pt"):
        if path.suffix == ".pt":
            torch.save(source.state_dict(), path)
        else:
            save_file(source.state_dict(), str(path))
        target = load_weights(model(), path)
        for k, v in source.state_dict().items():
            assert torch.equal(target.state_dict()[k], v)


def test_every_mismatch_is_named(tmp_path):
    state = model().state_dict()
    state.pop("1.bias")
    state["0.weight"] = torch.zeros(5, 3)
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    with pytest.raises(ValueError) as info:
        load_weights(model(), path)
    message = str(info.value)
    assert "missing: 1.bias" in message and "unexpected: extra.weight" in message
    assert "shape of 0.weight: checkpoint (5, 3), model (4, 3)" in message


class WritesMarker:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"weight": WritesMarker(str(marker))}, f, protocol=2)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(pickle.UnpicklingError):
        read_state_dict(path)
    assert not marker.exists()


def test_bad_paths_and_types_name_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="argument 'weights'"):
        read_state_dict(tmp_path / "missing.safetensors")
    (tmp_path / "w.onnx").write_bytes(b"x")
    with pytest.raises(ValueError, match="unsupported file type '.onnx'"):
        read_state_dict(tmp_path / "w.onnx")
