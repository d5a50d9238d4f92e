"""torch.compile, torch.export and ONNX (onnxruntime) on registered models, and the capability table built from them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import zoo
from zoo import capabilities, cli
from zoo.registry import ModelSpec

README = Path(__file__).parents[1] / "README.md"
# In CI, a small model of each plugin (conv, attention, recurrent and bias_act between them), with BERT; the
# `large` test below runs every model.
CI_MODELS = ["mnist_cnn", "bert-tiny", "gpt2-tiny", "lstm_classifier", "kws_cnn", "neumf", "unet2d", "dlrm", "gru4rec", "sasrec"]
CNNS = ["mnist_cnn", "alexnet", "resnet18", "resnet50", "vgg11", "vgg16_bn"]


@pytest.fixture(autouse=True)
def own_zoo_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo-home"))


def assert_works(name: str, outcomes: dict[str, capabilities.Outcome]) -> None:
    assert outcomes["compile"].summary in ("fullgraph", "graph breaks") and outcomes["compile"].ok, (name, outcomes)
    assert outcomes["export"].ok, (name, outcomes)
    assert outcomes["onnx"].ok, (name, outcomes)


@pytest.mark.parametrize("name", CI_MODELS)
def test_compiled_exported_and_onnx_models_give_the_eager_outputs(name):
    assert_works(name, capabilities.check_capabilities(name))


@pytest.mark.large
@pytest.mark.parametrize("name", zoo.list_models(max_params=250e6))
def test_every_model_compiles_and_the_cnns_and_bert_export_to_onnx(name):
    outcomes = capabilities.check_capabilities(name)
    assert outcomes["compile"].ok, outcomes
    if name in CNNS or name.startswith("bert"):
        assert_works(name, outcomes)


class DataDependent(torch.nn.Module):
    """A branch on a tensor's value: dynamo must break the graph there, and export cannot trace it."""

    def __init__(self):
        super().__init__()
        self.layer = zoo.nn.LinearAct(4, 4, activation="relu")

    def forward(self, x):
        y = self.layer(x)
        return y * 2 if bool(y.sum() > 0) else y - 1


@pytest.fixture
def data_dependent(monkeypatch):
    spec = ModelSpec(name="branchy", builder=DataDependent, domain="test", task="test", ops=("bias_act",),
                     inputs=lambda cfg, n: (torch.randn(n, 4),))
    monkeypatch.setattr(zoo, "info", lambda name: spec)
    return spec


def test_a_graph_break_and_a_failed_export_are_named(data_dependent):
    outcomes = capabilities.check_capabilities("branchy", ("compile", "export"))
    assert outcomes["compile"].ok and outcomes["compile"].summary == "graph breaks" and outcomes["compile"].detail
    assert not outcomes["export"].ok and outcomes["export"].summary == "no" and outcomes["export"].detail


def test_a_compiled_model_with_wrong_outputs_is_not_claimed(data_dependent, monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda model, **kw: lambda *args: model(*args) + 1e-2)
    (outcome,) = capabilities.check_capabilities("branchy", ("compile",)).values()
    assert not outcome.ok and outcome.summary == "wrong outputs"


def test_an_unknown_check_is_refused():
    with pytest.raises(ValueError, match="argument 'checks' has unknown \\['jit'\\]"):
        capabilities.check_capabilities("mnist_cnn", ("jit",))


def test_results_are_stored_shown_by_list_long_and_written_into_a_readme(tmp_path, capsys):
    assert cli.main(["capabilities", "mnist_cnn", "--check", "export"]) == 0
    assert cli.main(["capabilities", "mnist_cnn", "--check", "onnx", "--json"]) == 0
    stored = capabilities.load_results()["mnist_cnn"]
    assert stored["export"].ok and stored["onnx"].ok and "compile" not in stored

    capsys.readouterr()
    assert cli.main(["list", "mnist_cnn", "--long"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("│ mnist_cnn"))
    assert [c.strip() for c in row.split("│")[-4:-1]] == ["-", "yes", "yes"]

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{capabilities.README_START}\nold table\n{capabilities.README_END}\nrest\n")
    capabilities.save_results({"retired_model": {"export": capabilities.Outcome(True, "yes")}})
    assert cli.main(["capabilities", "mnist_cnn", "--check", "onnx", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old table" not in text and "| mnist_cnn | - | yes | yes |" in text
    assert "retired_model" not in text  # stored, but no longer registered
    assert text.startswith("intro\n") and text.endswith("rest\n")


def test_the_readme_table_covers_every_model_small_enough_to_check():
    section = README.read_text().split(capabilities.README_START)[1].split(capabilities.README_END)[0]
    listed = set(re.findall(r"^\| ([\w.-]+) \|", section, re.M)) - {"model"}
    assert listed == set(zoo.list_models(max_params=250e6)), "regenerate it: see the README's capability section"
