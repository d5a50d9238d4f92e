"""zoo: a PyTorch model zoo on its own C++/CUDA kernels, with models from plugins.

    import zoo
    zoo.list_models("res*", domain="vision")
    model = zoo.load("resnet18", num_classes=10)     # eval mode, our kernels
    with zoo.ops.backend("torch"): model(x)          # same model, PyTorch's ops
"""

from __future__ import annotations

from typing import Any

import torch

from zoo import nn, ops
from zoo.hookspecs import PLUGIN_API_VERSION, hookimpl
from zoo.plugins import default_plugins
from zoo.registry import DuplicateModelError, ModelSpec, UnknownModelError

__version__ = "0.1.0"


def list_models(pattern: str = "*", *, domain: str | None = None, task: str | None = None) -> list[str]:
    """Names of registered models matching an fnmatch `pattern` (and domain/task if given)."""
    return default_plugins().registry.names(pattern, domain=domain, task=task)


def info(name: str) -> ModelSpec:
    """The ModelSpec of `name`: domain, task, paper, default config, ops used, example inputs."""
    return default_plugins().registry.get(name)


def load(name: str, *, weights: str | None = None, **config: Any) -> torch.nn.Module:
    """Build model `name` with `config` overrides, in eval mode; `weights` is a local checkpoint file."""
    model = info(name).build(**config)
    if weights is not None:
        from zoo.weights import load_weights

        load_weights(model, weights)
    return model


def register_model(spec: ModelSpec) -> ModelSpec:
    """Register a model from user code (plugins use the zoo_register_models hook)."""
    return default_plugins().registry.register(spec)


__all__ = [
    "PLUGIN_API_VERSION",
    "DuplicateModelError",
    "ModelSpec",
    "UnknownModelError",
    "hookimpl",
    "info",
    "list_models",
    "load",
    "nn",
    "ops",
    "register_model",
]
