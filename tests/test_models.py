"""Every registered model (from the installed plugins), driven by the registry as timm's tests are."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.check import check_model, flatten_tensors

MODELS = zoo.list_models()
# Models this large (gpt2-medium and up, bert-large, mt5-small) are built on the meta device only: their
# family's smaller configs run the same code, and building, differentiating and saving gpt2-xl's 1.5B
# parameters would take most of CI's memory and minutes.
HEAVY = 250_000_000
RUNNABLE = zoo.list_models(max_params=HEAVY)


def test_every_plugin_contributes_a_model():
    assert {zoo.info(n).domain for n in MODELS} >= {"vision", "nlp", "speech", "recsys", "medical"}


@pytest.mark.parametrize("name", MODELS)
def test_metadata_is_complete_and_num_params_is_true(name):
    spec = zoo.info(name)
    assert spec.paper and spec.ops and set(spec.ops) <= set(zoo.ops.OPS), spec
    with torch.device("meta"):
        assert spec.num_params == sum(p.numel() for p in spec.build().parameters())


@pytest.mark.parametrize("name", RUNNABLE)
def test_forward_on_our_kernels_equals_the_reference_backend(name):
    result = check_model(name, batch_size=2)
    assert result.passed, result


@pytest.mark.parametrize("name", RUNNABLE)
def test_batch_size_follows_the_inputs_and_backward_reaches_every_parameter(name):
    spec = zoo.info(name)
    model = spec.build().train()
    outputs = flatten_tensors(model(*spec.example_inputs(3)))
    assert all(o.shape[0] == 3 for o in outputs)
    sum(o.float().pow(2).mean() for o in outputs).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", RUNNABLE)
def test_save_and_load_round_trip(name, tmp_path):
    """zoo.save writes safetensors with the name and config; zoo.load(path) alone rebuilds the same model."""
    spec = zoo.info(name)
    torch.manual_seed(1)
    model = spec.build()
    torch.manual_seed(2)
    restored = zoo.load(str(zoo.save(model, tmp_path / f"{name}.safetensors")))
    inputs = spec.example_inputs(2)
    with torch.no_grad():
        for a, b in zip(flatten_tensors(model(*inputs)), flatten_tensors(restored(*inputs))):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
