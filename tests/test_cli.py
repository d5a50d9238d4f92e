"""The zoo command against a known registry."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import zoo
from zoo import cli
from zoo.ops import current


class OffByOneOnOurKernels(nn.Module):
    """Deliberately differs between backends, so `zoo check` must fail it."""

    def forward(self, x):
        return x + (1.0 if current() == "ext" else 0.0)


def spec(name, builder, domain="vision"):
    return zoo.ModelSpec(name=name, builder=builder, domain=domain, task="classification",
                         inputs=lambda cfg, n: (torch.randn(n, 4),), default_config={}, ops=("bias_act",),
                         num_params=20, paper="toy")


@pytest.fixture
def known(plugin_set):
    class Plugin:
        ZOO_PLUGIN_API = 1

        @zoo.hookimpl
        def zoo_register_models(self, register):
            register(spec("toy_mlp", lambda: zoo.nn.LinearAct(4, 4, activation="gelu")))
            register(spec("toy_text", lambda: zoo.nn.LinearAct(4, 4), domain="nlp"))
            register(spec("toy_broken", OffByOneOnOurKernels))

    plugin_set.add(Plugin(), "toys", distribution="zoo-toys", version="3.1")
    return plugin_set


def run(capsys, *argv):
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def test_list_json_and_filters(known, capsys):
    code, out = run(capsys, "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["toy_broken", "toy_mlp", "toy_text"]
    assert rows[1]["source"] == "plugin 'toys' (zoo-toys 3.1)" and rows[1]["ops"] == ["bias_act"]
    _, out = run(capsys, "list", "toy_m*", "--json")
    assert [r["name"] for r in json.loads(out)] == ["toy_mlp"]
    _, out = run(capsys, "list", "--domain", "nlp", "--json")
    assert [r["name"] for r in json.loads(out)] == ["toy_text"]


def test_list_table(known, capsys):
    code, out = run(capsys, "list")
    assert code == 0 and "toy_mlp" in out and "3 model(s)" in out


def test_info(known, capsys):
    code, out = run(capsys, "info", "toy_text", "--json")
    assert code == 0 and json.loads(out)["domain"] == "nlp"


def test_unknown_model_exits_2_with_a_suggestion(known, capsys):
    code, out = run(capsys, "info", "toy_mpl")
    assert code == 2 and "did you mean 'toy_mlp'" in out


def test_plugins_json(known, capsys):
    code, out = run(capsys, "plugins", "--json")
    (row,) = json.loads(out)
    assert code == 0
    assert (row["name"], row["distribution"], row["version"], row["status"]) == ("toys", "zoo-toys", "3.1", "loaded")
    assert row["models"] == ["toy_mlp", "toy_text", "toy_broken"]


def test_check_passes_a_good_model_and_fails_a_wrong_one(known, capsys):
    code, out = run(capsys, "check", "toy_mlp", "--json")
    result = json.loads(out)
    assert code == 0 and result["passed"] and result["max_abs"] < 1e-5
    code, out = run(capsys, "check", "toy_broken")
    assert code == 1 and "FAIL" in out and "max abs 1" in out


def test_doctor_reports_versions_and_op_devices(capsys):
    code, out = run(capsys, "doctor", "--json")
    info = json.loads(out)
    assert code == 0
    assert info["torch"] == torch.__version__ and info["extension_loaded"] is True
    assert "cpu" in info["ops"]["bias_act"]
