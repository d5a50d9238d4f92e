"""zoo: a PyTorch model zoo on its own C++/CUDA kernels, with models from plugins.

    import zoo
    zoo.list_models("res*", domain="vision")
    model = zoo.load("resnet18", num_classes=10)     # eval mode, our kernels
    with zoo.ops.backend("torch"): model(x)          # same model, PyTorch's ops
    zoo.save(model, "r18.safetensors"); zoo.load("r18.safetensors")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from zoo import nn, ops
from zoo.hookspecs import PLUGIN_API_VERSION, hookimpl
from zoo.plugins import default_plugins
from zoo.registry import DuplicateModelError, ModelSpec, PeerRun, UnknownModelError
from zoo.transforms import Preprocessing
from zoo.weights import WeightsSpec

__version__ = "0.1.0"


def list_models(pattern: str = "*", *, domain: str | None = None, task: str | None = None,
                max_params: float | None = None) -> list[str]:
    """Names of registered models matching an fnmatch `pattern` (and domain/task/at most max_params if given)."""
    return default_plugins().registry.names(pattern, domain=domain, task=task, max_params=max_params)


def transforms(name: str) -> Preprocessing:
    """The preprocessing `name`'s weights expect (resize, center crop, normalise), as a callable on images."""
    spec = info(name)
    if spec.preprocessing is None:
        raise ValueError(f"model {name!r} declares no preprocessing; its inputs are used as given")
    return spec.preprocessing


def info(name: str) -> ModelSpec:
    """The ModelSpec of `name`: domain, task, paper, default config, ops used, example inputs."""
    return default_plugins().registry.get(name)


def load(
    name: str,
    *,
    weights: str | None = None,
    download: bool = False,
    weights_ignore: Iterable[str] = (),
    weights_allow_globals: Iterable[Any] = (),
    **config: Any,
) -> torch.nn.Module:
    """Build model `name` with `config` overrides, in eval mode, optionally with weights.

    `name` may also be a path written by zoo.save, which rebuilds the saved model.
    `weights` is a registered tag (e.g. "resnet50.tv_in1k", read from the local
    cache and sha256-verified; fetched only with download=True), a .safetensors
    or .pt/.pth/.bin file, or a zoo / Hugging Face directory (whose config.json, for
    models with a `convert_config`, sets the architecture; `config` still overrides). Loading is strict;
    `weights_ignore` takes fnmatch patterns of tensors that may be missing or
    re-shaped (a new head). `weights_allow_globals` names classes a trusted
    pickle may contain beyond plain tensors.
    """
    from zoo import weights as w

    registry = default_plugins().registry
    if name not in registry and Path(name).exists():
        saved = w.saved_description(name)
        if saved is None:
            raise ValueError(f"{name!r} is a path but not one written by zoo.save (no zoo name/config in it)")
        if weights is not None:
            raise TypeError("argument 'weights' cannot be combined with a saved model path, which holds its weights")
        name, weights, config = saved["name"], name, {**saved["config"], **config}
    spec = registry.get(name)
    if weights is not None and spec.convert_config is not None:
        foreign = w.foreign_config(weights)
        config = config if foreign is None else {**spec.convert_config(foreign), **config}
    model = spec.build(**config)
    if weights is None:
        return model
    if weights in registry.weights:
        entry = registry.weights[weights]
        if entry.model != name:
            raise ValueError(f"argument 'weights': {weights!r} are weights for {entry.model!r}, not {name!r}")
        weights = w.resolve(entry, download_missing=download)
    state = w.read_state_dict(weights, allow_globals=weights_allow_globals)
    if spec.convert is not None and w.saved_description(weights) is None:  # zoo's own files need no conversion
        state = spec.convert(state)
    return w.load_state(model, state, ignore=weights_ignore, origin=repr(str(weights)))


def save(model: torch.nn.Module, path: str | Path, *, name: str | None = None,
         config: Mapping[str, Any] | None = None) -> Path:
    """Write `model` (safetensors + its zoo name and config) so that zoo.load(path) rebuilds it.

    A path ending in .safetensors is one file; any other path becomes a directory
    (model.safetensors + config.json). Models from zoo.load know their name and
    config; others must pass them.
    """
    from zoo import weights as w

    origin_name, origin_config = getattr(model, "zoo_origin", (None, None))
    name, config = name or origin_name, config if config is not None else origin_config
    if name is None or config is None:
        raise ValueError("zoo.save needs 'name' and 'config' for a model that was not built by zoo.load")
    info(name).config(**config)  # fail now, not at load time, on a config the model does not take
    return w.save(model, path, name=name, config=config)


def register_weights(spec: WeightsSpec) -> WeightsSpec:
    """Register weights from user code (plugins use the zoo_register_weights hook)."""
    return default_plugins().registry.register_weights_all([spec])[0]


def register_model(spec: ModelSpec) -> ModelSpec:
    """Register a model from user code (plugins use the zoo_register_models hook)."""
    return default_plugins().registry.register(spec)


__all__ = [
    "PLUGIN_API_VERSION",
    "DuplicateModelError",
    "ModelSpec",
    "PeerRun",
    "Preprocessing",
    "UnknownModelError",
    "hookimpl",
    "info",
    "list_models",
    "load",
    "nn",
    "ops",
    "register_model",
    "register_weights",
    "save",
    "transforms",
    "WeightsSpec",
]
