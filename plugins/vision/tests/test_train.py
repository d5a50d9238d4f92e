"""`zoo train mnist_cnn`: the digits recipe trains through zoo's backward kernels to >= 95% test accuracy,
and its checkpoint is read back by zoo.load with the same accuracy."""

import json

import pytest
import torch

import zoo
from zoo.cli import main

pytest.importorskip("sklearn", reason="the digits recipe needs scikit-learn (zoo-vision[train])")
from zoo_vision.train_digits import accuracy, digits, train_mnist_cnn  # noqa: E402


def test_digits_split_is_fixed_stratified_and_disjoint():
    x_train, y_train, x_test, y_test = digits()
    assert x_train.shape == (1437, 1, 28, 28) and x_test.shape == (360, 1, 28, 28)
    assert 0 <= x_train.min() and x_train.max() <= 1
    per_digit = torch.bincount(torch.cat((y_train, y_test)))
    assert ((torch.bincount(y_test) - per_digit * 0.2).abs() <= 1).all(), "the test split is not a fifth of each digit"
    assert not (x_test.flatten(1)[:, None] == x_train.flatten(1)[None]).all(-1).any(), "test images seen in training"
    torch.testing.assert_close(digits()[2], x_test)


def test_recipe_reaches_95_percent_and_its_checkpoint_loads(tmp_path, capsys):
    path = tmp_path / "digits.safetensors"
    assert main(["train", "mnist_cnn", "--output", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[out.index('{\n  "name"'):])
    assert result["checkpoint"] == str(path)
    assert result["metrics"]["test_accuracy"] >= 0.95
    model = zoo.load(str(path))
    _, _, x_test, y_test = digits()
    assert accuracy(model, x_test, y_test) == pytest.approx(result["metrics"]["test_accuracy"], abs=1e-6)


def test_bad_requests_are_refused_clearly(capsys):
    with pytest.raises(ValueError, match="argument 'epochs'"):
        train_mnist_cnn(epochs=0)
    with pytest.raises(SystemExit):
        main(["train", "mnist_cnn", "--epochs", "0"])
    assert "must be a positive integer" in capsys.readouterr().err
    assert main(["train", "resnet18"]) == 2
    message = capsys.readouterr().out
    assert "'resnet18' has no training recipe; models with one: " in message and "mnist_cnn" in message
