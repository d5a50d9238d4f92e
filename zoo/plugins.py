"""Discovers plugins through entry points and runs their hooks, each one isolated.

pluggy lets one broken plugin stop a loader, so every plugin is loaded and
called on its own: one that fails to import, declares another API version,
implements a misspelled hook, raises in its hook or registers a name another
plugin already has is recorded as failed (see `zoo plugins`) with a
PluginWarning naming its distribution, version and error, and the rest load.

  ZOO_STRICT_PLUGINS=1   a failing plugin raises PluginLoadError (for CI)
  ZOO_LOAD_PLUGINS=a,b   load only these (entry-point or distribution names);
                         set but empty loads none
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Iterable

import pluggy

from zoo import hookspecs
from zoo.registry import Registry


class PluginWarning(UserWarning):
    """A plugin failed to load; the zoo goes on without it."""


class PluginLoadError(RuntimeError):
    """A plugin failed to load and ZOO_STRICT_PLUGINS is set."""


@dataclass
class PluginInfo:
    """What `zoo plugins` shows for one plugin."""

    name: str
    distribution: str = ""
    version: str = ""
    status: str = "loaded"  # loaded | failed | skipped
    error: str = ""
    models: list[str] = field(default_factory=list)
    weights: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """How messages name the plugin: its distribution and version where known."""
        if self.distribution:
            return f"plugin {self.name!r} ({self.distribution} {self.version})"
        return f"plugin {self.name!r}"


def allowlist() -> set[str] | None:
    """Names from $ZOO_LOAD_PLUGINS, or None when it is unset (load all)."""
    raw = os.environ.get("ZOO_LOAD_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def strict() -> bool:
    return os.environ.get("ZOO_STRICT_PLUGINS", "0") not in ("", "0", "false", "False")


class PluginSet:
    """The plugins behind one registry, and what became of each."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry if registry is not None else Registry()
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}

    def load_entry_points(self, entry_points: Iterable[metadata.EntryPoint] | None = None) -> None:
        """Load every plugin of the `zoo.plugins` group that the allowlist admits."""
        if entry_points is None:
            entry_points = metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP)
        allowed = allowlist()
        for ep in entry_points:
            dist = ep.dist.metadata["Name"] if ep.dist is not None else ""
            version = ep.dist.version if ep.dist is not None else ""
            info = PluginInfo(ep.name, dist, version)
            if allowed is not None and not ({ep.name, dist} & allowed):
                info.status = "skipped"
                info.error = "not in ZOO_LOAD_PLUGINS"
                self.infos[ep.name] = info
                continue
            self._load(info, ep.load)

    def add(self, plugin: Any, name: str, *, distribution: str = "", version: str = "") -> PluginInfo:
        """Register a plugin object directly (tests, notebooks), with the same isolation."""
        return self._load(PluginInfo(name, distribution, version), lambda: plugin)

    def remove(self, name: str) -> None:
        """Unregister plugin `name` and drop the models it registered."""
        info = self.infos.pop(name)
        if self.manager.has_plugin(name):
            self.manager.unregister(name=name)
        self.registry.unregister_source(info.label)
        self.registry.failed_sources.pop(info.label, None)

    def _load(self, info: PluginInfo, load) -> PluginInfo:
        if info.name in self.infos:
            raise ValueError(f"a plugin named {info.name!r} is already loaded")
        self.infos[info.name] = info
        try:
            plugin = load()
            api = getattr(plugin, "ZOO_PLUGIN_API", None)
            if api != hookspecs.PLUGIN_API_VERSION:
                raise PluginLoadError(
                    f"declares ZOO_PLUGIN_API = {api!r}, this zoo supports {hookspecs.PLUGIN_API_VERSION}"
                )
            self.manager.register(plugin, name=info.name)
            self.manager.check_pending()  # catches misspelled hook names
            others = [p for p in self.manager.get_plugins() if p is not plugin]
            models: list = []
            weights: list = []
            self.manager.subset_hook_caller("zoo_register_models", remove_plugins=others)(register=models.append)
            self.manager.subset_hook_caller("zoo_register_weights", remove_plugins=others)(register=weights.append)
            info.models = [s.name for s in self.registry.register_all(models, source=info.label)]
            info.weights = [w.tag for w in self.registry.register_weights_all(weights, source=info.label)]
        except Exception as error:  # isolation is the point: any failure is the plugin's
            self._fail(info, error)
        return info

    def _fail(self, info: PluginInfo, error: Exception) -> None:
        if self.manager.has_plugin(info.name):
            self.manager.unregister(name=info.name)
        self.registry.unregister_source(info.label)  # nothing partial stays registered
        info.models, info.weights = [], []
        info.status = "failed"
        info.error = f"{type(error).__name__}: {error}"
        self.registry.failed_sources[info.label] = info.error
        message = f"zoo: {info.label} failed to load and is skipped: {info.error}"
        if strict():
            raise PluginLoadError(f"{message} (ZOO_STRICT_PLUGINS is set)") from error
        warnings.warn(message, PluginWarning, stacklevel=3)


_lock = threading.RLock()
_default: PluginSet | None = None


def default_plugins() -> PluginSet:
    """The process-wide plugin set, loading the installed plugins on first use."""
    global _default
    with _lock:
        if _default is None:
            # Published before loading so a plugin that looks up the registry while
            # loading sees this set instead of starting a second load.
            _default = PluginSet()
            try:
                _default.load_entry_points()
            except BaseException:
                _default = None
                raise
        return _default


def reset() -> None:
    """Forget the process-wide plugins; the next use loads them again."""
    global _default
    with _lock:
        _default = None
