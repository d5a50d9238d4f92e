"""ModelSpec and the registry: listing, lookups that help, strictness, config overrides."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from zoo.registry import DuplicateModelError, ModelSpec, Registry, UnknownModelError


def toy_spec(name="toy_mlp", domain="vision", task="classification", **kwargs):
    def build(width=4, classes=3):
        return nn.Sequential(zoo.nn.LinearAct(5, width), nn.Linear(width, classes))

    return ModelSpec(name=name, builder=build, domain=domain, task=task,
                     inputs=lambda cfg, n: (torch.randn(n, 5),),
                     default_config={"width": 4, "classes": 3}, ops=("bias_act",), **kwargs)


@pytest.fixture
def registry():
    r = Registry()
    r.register_all([toy_spec("resnet18"), toy_spec("resnet50"), toy_spec("gpt2", domain="nlp", task="generation")],
                   source="plugin 'x' (zoo-x 1.0)")
    return r


def test_list_with_patterns_domain_and_task(registry):
    assert registry.names() == ["gpt2", "resnet18", "resnet50"]
    assert registry.names("res*") == ["resnet18", "resnet50"]
    assert registry.names("*5?") == ["resnet50"]
    assert registry.names(domain="nlp") == ["gpt2"]
    assert registry.names(task="classification", domain="vision") == ["resnet18", "resnet50"]
    assert registry.names(domain="speech") == []


def test_max_params_leaves_out_larger_models_and_keeps_undeclared_ones():
    r = Registry()
    r.register_all([toy_spec("small", num_params=39), toy_spec("huge", num_params=10**9), toy_spec("undeclared")],
                   source="plugin 'x' (zoo-x 1.0)")
    assert r.names(max_params=1e6) == ["small", "undeclared"]
    assert r.names(max_params=39) == ["small", "undeclared"]
    assert r.names(max_params=38) == ["undeclared"]


def test_unknown_name_is_a_keyerror_that_suggests(registry):
    with pytest.raises(KeyError) as info:
        registry.get("resnet5")
    assert isinstance(info.value, UnknownModelError)
    assert "did you mean 'resnet50'" in str(info.value)


def test_unknown_name_mentions_failed_plugins(registry):
    registry.failed_sources["plugin 'v' (zoo-vision 0.1.0)"] = "ImportError: no module named timm"
    message = str(pytest.raises(UnknownModelError, registry.get, "vit_base").value)
    assert "zoo-vision 0.1.0" in message and "ImportError: no module named timm" in message


def test_duplicate_is_an_error_naming_both_sources_and_registers_nothing(registry):
    with pytest.raises(DuplicateModelError, match=r"by plugin 'x' \(zoo-x 1.0\) and by plugin 'y'"):
        registry.register_all([toy_spec("brand_new"), toy_spec("gpt2")], source="plugin 'y'")
    assert "brand_new" not in registry


def test_config_overrides_are_checked_and_models_load_in_eval_mode():
    spec = toy_spec()
    model = spec.build(width=7)
    assert not model.training
    assert model[0].out_features == 7
    with pytest.raises(TypeError, match="'toy_mlp' has no config option 'depth'; options are: classes, width"):
        spec.build(depth=3)
    assert spec.example_inputs(3)[0].shape == (3, 5)
    with pytest.raises(ValueError, match="argument 'batch_size'"):
        spec.example_inputs(0)


@pytest.mark.parametrize("field, value", [("name", ""), ("domain", None), ("task", 3)])
def test_spec_fields_are_validated(field, value):
    with pytest.raises(ValueError, match=f"ModelSpec argument '{field}'"):
        toy_spec(**{"name": "ok", "domain": "vision", "task": "t", field: value})


def test_public_api_uses_the_process_registry(plugin_set):
    zoo.register_model(toy_spec("mine"))
    assert zoo.list_models() == ["mine"]
    assert zoo.info("mine").source == "user code"
    assert isinstance(zoo.load("mine", width=2), nn.Module)
    with pytest.raises(DuplicateModelError):
        zoo.register_model(toy_spec("mine"))


def test_a_peer_forward_is_checked_before_it_is_timed():
    torch.manual_seed(0)
    ours, same, other = nn.Linear(8, 3), nn.Linear(8, 3), nn.Linear(8, 3)
    same.load_state_dict(ours.state_dict())
    inputs = (torch.randn(4, 8),)
    run = zoo.PeerRun.forward("same weights", ours, same, inputs, units=4)
    torch.testing.assert_close(run.ours(), run.theirs(), rtol=0, atol=0)
    with pytest.raises(AssertionError, match="our Linear and other weights disagree"):
        zoo.PeerRun.forward("other weights", ours, other, inputs, units=4)
