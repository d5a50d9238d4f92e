"""Model entries (ModelSpec) and the strict registry that holds them.

Strict as torchvision's is: a second registration of a name is an error naming
both sources, never a silent overwrite. Lookups of unknown names suggest the
closest names and name any plugin that failed to load.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

from zoo.transforms import Preprocessing
from zoo.weights import WeightsSpec

InputsFn = Callable[[Mapping[str, Any], int], tuple]


@dataclass(frozen=True)
class PeerRun:
    """One workload done by our model and by another library's model holding the same weights
    (`zoo bench models --peers`). The ModelSpec.peer that makes it has already checked that both
    give the same result."""

    label: str  # the peer and the workload, e.g. "transformers GPT2LMHeadModel, 16 tokens with KV cache"
    ours: Callable[[], Any]
    theirs: Callable[[], Any]
    units: int  # samples or tokens per call
    unit: str  # "samples/s" or "tokens/s"

    @classmethod
    def forward(cls, label: str, ours: nn.Module, theirs: nn.Module, inputs: tuple, units: int) -> "PeerRun":
        """The common workload: each model's forward on the same `inputs`, without autograd, in samples/s.

        Raises AssertionError unless the outputs agree as float32 allows (`zoo.check.agreement`:
        the model tolerance, or for deep nets at random init, flash-attention's rule against
        `theirs` run in float64).
        """
        from zoo.check import agreement, flatten_tensors

        def call(model: nn.Module) -> Callable[[], Any]:
            def run():
                with torch.no_grad():
                    return model(*inputs)
            return run
        run = cls(label, call(ours), call(theirs), units, "samples/s")
        result = agreement(type(ours).__name__, flatten_tensors(run.ours()), flatten_tensors(run.theirs()), theirs, inputs)
        if not result.passed:
            raise AssertionError(f"our {type(ours).__name__} and {label} disagree: max abs diff {result.max_abs:.3g}")
        return run


def recipe_length(epochs: int | None, default: int) -> int:
    """How long a ModelSpec.train recipe runs: `epochs` as given (a positive int), or its default."""
    length = default if epochs is None else epochs
    if not isinstance(length, int) or length < 1:
        raise ValueError(f"argument 'epochs' must be a positive int, got {length!r}")
    return length


class UnknownModelError(KeyError):
    """No model of that name is registered; the message suggests close names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class DuplicateModelError(ValueError):
    """Two sources registered the same model name."""


@dataclass(frozen=True)
class ModelSpec:
    """Everything the zoo knows about one model: how to build it and what it is.

    `inputs(config, batch_size)` makes example inputs for a model built with
    `config`, so tests, `zoo check` and `zoo bench` run any model without knowing
    its domain. `num_params` is declared for the default config and checked by
    the tests. `convert`, if given, renames a foreign checkpoint's tensors to
    ours before strict loading.
    """

    name: str
    builder: Callable[..., nn.Module]
    domain: str
    task: str
    inputs: InputsFn
    default_config: Mapping[str, Any] = field(default_factory=dict)
    paper: str = ""
    ops: tuple[str, ...] = ()
    num_params: int | None = None
    # Maps a foreign checkpoint's state_dict (torchvision, timm, Hugging Face) to ours.
    convert: Callable[[dict], dict] | None = None
    # Maps a foreign checkpoint directory's config.json (Hugging Face's) to config overrides, so
    # zoo.load(name, weights=DIR) builds the architecture the weights were saved from.
    convert_config: Callable[[dict], dict] | None = None
    # What the model's inputs must go through for its weights (zoo.transforms(name)).
    preprocessing: Preprocessing | None = None
    # For `zoo bench models --peers`: peer(batch_size) -> PeerRun, comparing us with the library the
    # model comes from (transformers, torchvision, timm); raises ImportError when that library is absent.
    peer: Callable[[int], PeerRun] | None = None
    # A training recipe for `zoo train NAME`: train(epochs=None | int, seed=int, log=callable)
    # -> (the trained model, built by zoo.load so zoo.save knows it, {metric: value}).
    train: Callable[..., tuple[nn.Module, dict[str, float]]] | None = None
    source: str = "user code"

    def __post_init__(self) -> None:
        for attr in ("name", "domain", "task"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not value:
                raise ValueError(f"ModelSpec argument '{attr}' must be a non-empty string, got {value!r}")
        for attr in ("builder", "inputs"):
            if not callable(getattr(self, attr)):
                raise TypeError(f"ModelSpec argument '{attr}' of {self.name!r} must be callable")
        if self.train is not None and not callable(self.train):
            raise TypeError(f"ModelSpec argument 'train' of {self.name!r} must be callable or None")
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "default_config", dict(self.default_config))

    def config(self, **overrides: Any) -> dict[str, Any]:
        """The default config updated with `overrides`, each of which must be a known option."""
        unknown = sorted(set(overrides) - set(self.default_config))
        if unknown:
            known = ", ".join(sorted(self.default_config)) or "none"
            raise TypeError(f"{self.name!r} has no config option {', '.join(map(repr, unknown))}; options are: {known}")
        return {**self.default_config, **overrides}

    def build(self, **overrides: Any) -> nn.Module:
        """A freshly initialised model, in eval mode, remembering how it was built (for zoo.save)."""
        config = self.config(**overrides)
        model = self.builder(**config).eval()
        model.zoo_origin = (self.name, config)
        return model

    def example_inputs(self, batch_size: int = 2, **overrides: Any) -> tuple[torch.Tensor, ...]:
        """Example inputs for the model built with the same `overrides`."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"argument 'batch_size' must be a positive int, got {batch_size!r}")
        inputs = self.inputs(self.config(**overrides), batch_size)
        return inputs if isinstance(inputs, tuple) else (inputs,)


def _stage(table: dict, specs: Iterable, kind: type, key: str, noun: str, source: str | None) -> dict:
    """New entries keyed by their `key` attribute, stamped with `source`; a key already in `table`
    or given twice is a DuplicateModelError naming both sources."""
    staged: dict = {}
    for spec in specs:
        if not isinstance(spec, kind):
            raise TypeError(f"register() takes a zoo.{kind.__name__}, got {type(spec).__name__}")
        if source is not None:
            spec = dataclasses.replace(spec, source=source)
        name = getattr(spec, key)
        other = table.get(name) or staged.get(name)
        if other is not None:
            raise DuplicateModelError(f"{noun} {name!r} is registered twice: by {other.source} and by {spec.source}")
        staged[name] = spec
    return staged


class Registry:
    """Name -> ModelSpec, with fnmatch listing and helpful misses."""

    def __init__(self) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self.weights: dict[str, WeightsSpec] = {}
        self.failed_sources: dict[str, str] = {}  # source -> error, for lookup messages

    def register(self, spec: ModelSpec, *, source: str | None = None) -> ModelSpec:
        """Add one spec; a name already present is a DuplicateModelError naming both sources."""
        return self.register_all([spec], source=source)[0]

    def register_all(self, specs: Iterable[ModelSpec], *, source: str | None = None) -> list[ModelSpec]:
        """Add specs all or nothing, so a source that clashes leaves no partial entries."""
        staged = _stage(self._specs, specs, ModelSpec, "name", "model", source)
        self._specs.update(staged)
        return list(staged.values())

    def register_weights_all(self, specs: Iterable[WeightsSpec], *, source: str | None = None) -> list[WeightsSpec]:
        """Add weights entries all or nothing; a tag already present names both sources."""
        staged = _stage(self.weights, specs, WeightsSpec, "tag", "weights entry", source)
        self.weights.update(staged)
        return list(staged.values())

    def unregister_source(self, source: str) -> None:
        """Drop every model and weights entry that `source` registered."""
        self._specs = {n: s for n, s in self._specs.items() if s.source != source}
        self.weights = {t: w for t, w in self.weights.items() if w.source != source}

    def get(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownModelError(self._miss_message(name)) from None

    def _miss_message(self, name: str) -> str:
        message = f"unknown model {name!r}"
        close = difflib.get_close_matches(name, self._specs, n=3, cutoff=0.5)
        if close:
            message += f"; did you mean {', '.join(map(repr, close))}?"
        elif not self._specs:
            message += "; no models are registered (is a zoo plugin installed? see `zoo plugins`)"
        if self.failed_sources:
            failed = "; ".join(f"{src}: {err}" for src, err in self.failed_sources.items())
            message += f". Plugins that failed to load (they may provide it): {failed}"
        return message

    def names(self, pattern: str = "*", *, domain: str | None = None, task: str | None = None,
              max_params: float | None = None) -> list[str]:
        """Sorted names matching the fnmatch `pattern` and, if given, the domain and task, and with at most
        `max_params` parameters (a model that declares no count is kept)."""
        return sorted(
            name
            for name, spec in self._specs.items()
            if fnmatch.fnmatchcase(name, pattern)
            and (domain is None or spec.domain == domain)
            and (task is None or spec.task == task)
            and (max_params is None or (spec.num_params or 0) <= max_params)
        )

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)
