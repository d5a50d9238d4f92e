"""Weights: strict loading that names every problem, no unsafe unpickling, verified registered files, zoo.save round trips."""

from __future__ import annotations

import hashlib
import json
import pickle

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import zoo
from zoo import cli
from zoo.weights import ChecksumError, UnsafeCheckpointError, load_weights, read_state_dict


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


def test_a_new_head_may_be_ignored_and_non_finite_weights_are_reported(tmp_path):
    trained = zoo.load("mnist_cnn")
    path = zoo.save(trained, tmp_path / "cnn.safetensors")
    fresh = zoo.load("mnist_cnn", num_classes=5, weights=str(path), weights_ignore=["head.*"])
    assert fresh.head.out_features == 5
    assert torch.equal(fresh.features[0].weight, trained.features[0].weight)

    state = model().state_dict()
    state["0.bias"][1] = float("nan")
    save_file(state, str(tmp_path / "nan.safetensors"))
    with pytest.warns(RuntimeWarning, match="NaN or Inf in: 0.bias"):
        load_weights(model(), tmp_path / "nan.safetensors")


class WritesMarker:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("force_unsafe", ["0", "1"])
@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path, monkeypatch, fmt, force_unsafe):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"weight": WritesMarker(str(marker))}
    if fmt == "zip":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=2)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", force_unsafe)
    with pytest.raises(UnsafeCheckpointError, match=r"\b(io|builtins)\.open\b.*weights_allow_globals"):
        zoo.load("mnist_cnn", weights=str(path))
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncate", "garble_header"])
def test_a_damaged_safetensors_file_is_a_clear_error(tmp_path, damage):
    path = zoo.save(zoo.load("mnist_cnn"), tmp_path / "cnn.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else data[:8] + b"{garbage" + data[16:])
    with pytest.raises(ValueError, match="is not a valid safetensors file"):
        zoo.load("mnist_cnn", weights=str(path))


def test_bad_paths_and_types_name_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="argument 'weights'"):
        read_state_dict(tmp_path / "missing.safetensors")
    (tmp_path / "w.onnx").write_bytes(b"x")
    with pytest.raises(ValueError, match="unsupported file type '.onnx'"):
        read_state_dict(tmp_path / "w.onnx")


def test_hugging_face_style_directory(tmp_path):
    source = model()
    save_file(source.state_dict(), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "toy"}))
    assert torch.equal(load_weights(model(), tmp_path)[0].weight, source[0].weight)


@pytest.fixture
def published(tmp_path, monkeypatch, plugin_set):
    """mnist_cnn weights registered by a plugin as a tag, with a file:// URL standing in for a server."""
    import zoo_vision

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    plugin_set.add(zoo_vision, "vision")
    served = zoo.save(zoo.load("mnist_cnn"), tmp_path / "served" / "mnist_cnn-v1.safetensors")
    digest = hashlib.sha256(served.read_bytes()).hexdigest()

    class Publisher:
        ZOO_PLUGIN_API = 1

        @zoo.hookimpl
        def zoo_register_weights(self, register):
            register(zoo.WeightsSpec(tag="mnist_cnn.v1", file_name="mnist_cnn-v1.safetensors", sha256=digest,
                                     url=served.as_uri(), license="MIT", metrics={"top1": 0.99}))

    plugin_set.add(Publisher(), "publisher", distribution="zoo-pub", version="1.0")
    return served


def test_a_registered_tag_is_not_fetched_unless_asked(published, capsys):
    spec = zoo.info("mnist_cnn")
    with pytest.raises(FileNotFoundError, match=r"put mnist_cnn-v1.safetensors \(sha256 \w+\) at .*home/weights"):
        zoo.load("mnist_cnn", weights="mnist_cnn.v1")
    assert cli.main(["weights", "mnist_cnn", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["tag"], row["present"], row["source"]) == ("mnist_cnn.v1", False, "plugin 'publisher' (zoo-pub 1.0)")
    assert cli.main(["info", "mnist_cnn", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["weights"] == ["mnist_cnn.v1"]

    loaded = zoo.load("mnist_cnn", weights="mnist_cnn.v1", download=True)
    (x,) = spec.example_inputs(2)
    torch.testing.assert_close(loaded(x), zoo.load(str(published))(x), rtol=0, atol=0)
    assert cli.main(["weights", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["present"] is True


def test_a_cached_file_with_the_wrong_hash_is_refused(published):
    entry = zoo.plugins.default_plugins().registry.weights["mnist_cnn.v1"]
    entry.local_path.parent.mkdir(parents=True)
    entry.local_path.write_bytes(published.read_bytes()[:-1] + b"!")
    with pytest.raises(ChecksumError, match="was not used"):
        zoo.load("mnist_cnn", weights="mnist_cnn.v1")


def test_a_download_with_the_wrong_content_leaves_nothing_behind(published, tmp_path):
    published.write_bytes(published.read_bytes()[:-1] + b"!")  # the server now serves a different file
    entry = zoo.plugins.default_plugins().registry.weights["mnist_cnn.v1"]
    with pytest.raises(ChecksumError, match="nothing was written to the cache"):
        zoo.load("mnist_cnn", weights="mnist_cnn.v1", download=True)
    assert list(entry.local_path.parent.iterdir()) == []


def test_an_unreachable_url_fails_at_once_saying_where_to_put_the_file(published):
    published.unlink()  # the "server" is gone
    with pytest.raises(ConnectionError, match=r"put the file at '.*mnist_cnn-v1.safetensors' by hand"):
        zoo.load("mnist_cnn", weights="mnist_cnn.v1", download=True)


@pytest.mark.parametrize("form", ["file.safetensors", "directory"])
def test_save_then_load_the_path_rebuilds_the_model(tmp_path, form):
    original = zoo.load("neumf", num_users=12, mlp_dims=(16, 8))
    path = zoo.save(original, tmp_path / form)
    restored = zoo.load(str(path))
    users, items = zoo.info("neumf").example_inputs(3, num_users=12)
    assert torch.equal(restored(users, items), original(users, items))
    with pytest.raises(ValueError, match="needs 'name' and 'config'"):
        zoo.save(model(), tmp_path / "plain.safetensors")


def test_globals_are_allowed_only_when_named_and_training_checkpoints_are_unwrapped(tmp_path):
    import argparse

    path = tmp_path / "train.pt"
    torch.save({"state_dict": model().state_dict(), "args": argparse.Namespace(lr=0.1), "epoch": 3}, path)
    with pytest.raises(UnsafeCheckpointError, match="argparse.Namespace"):
        read_state_dict(path)
    assert set(read_state_dict(path, allow_globals=[argparse.Namespace])) == set(model().state_dict())
    torch.save({"epoch": 3}, tmp_path / "no_weights.pt")
    with pytest.raises(ValueError, match="holds no state_dict"):
        read_state_dict(tmp_path / "no_weights.pt")


def test_a_spec_converter_maps_foreign_checkpoints_but_not_zoo_files(tmp_path, plugin_set):
    zoo.register_model(zoo.ModelSpec(
        name="toy_seq", builder=model, domain="test", task="toy", inputs=lambda cfg, n: (torch.randn(n, 3),),
        convert=lambda state: {k.replace("layers.", ""): v for k, v in state.items()}))
    foreign = {f"layers.{k}": v for k, v in model().state_dict().items()}  # another library's names
    save_file(foreign, str(tmp_path / "foreign.safetensors"))
    loaded = zoo.load("toy_seq", weights=str(tmp_path / "foreign.safetensors"))
    assert torch.equal(loaded[0].weight, foreign["layers.0.weight"])
    restored = zoo.load(str(zoo.save(loaded, tmp_path / "ours.safetensors")))
    assert torch.equal(restored[0].weight, foreign["layers.0.weight"])
