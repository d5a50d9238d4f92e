"""Plugins: discovery through entry points, isolation of broken ones, clashes, allowlist, strict mode."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

import zoo
from zoo.hookspecs import ENTRY_POINT_GROUP
from zoo.plugins import PluginLoadError, PluginSet, PluginWarning

GOOD = """
    import torch, zoo
    ZOO_PLUGIN_API = 1

    @zoo.hookimpl
    def zoo_register_models(register):
        for name in {names!r}:
            register(zoo.ModelSpec(name=name, builder=lambda: zoo.nn.LinearAct(2, 2), domain="test",
                                   task="toy", inputs=lambda cfg, n: (torch.randn(n, 2),), ops=("bias_act",)))
"""
IMPORT_ERROR = "import a_module_that_does_not_exist\n"
HOOK_RAISES = GOOD.format(names=["half"]).replace("        for name in", "        raise RuntimeError('hook exploded')\n        for name in")
WRONG_API = GOOD.format(names=["other"]).replace("ZOO_PLUGIN_API = 1", "ZOO_PLUGIN_API = 99")
MISSPELLED = """
    import zoo
    ZOO_PLUGIN_API = 1

    @zoo.hookimpl
    def zoo_register_modles(register):
        pass
"""


def entry_points(*names):
    """The installed entry points called `names`, in that order."""
    found = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name in names}
    return [found[name] for name in names]


def test_a_distribution_is_discovered_through_its_entry_point(make_distribution, monkeypatch):
    monkeypatch.delenv("ZOO_LOAD_PLUGINS", raising=False)
    ep = make_distribution(GOOD.format(names=["toy_a", "toy_b"]), name="zoo-toys", version="2.3")
    plugins = PluginSet()
    plugins.load_entry_points()  # a full scan, as zoo does
    info = plugins.infos[ep]
    assert (info.distribution, info.version, info.status, info.models) == ("zoo-toys", "2.3", "loaded", ["toy_a", "toy_b"])
    assert plugins.registry.get("toy_a").source == f"plugin '{ep}' (zoo-toys 2.3)"


@pytest.mark.parametrize("source, error", [
    (IMPORT_ERROR, "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'"),
    (HOOK_RAISES, "RuntimeError: hook exploded"),
    (WRONG_API, "declares ZOO_PLUGIN_API = 99, this zoo supports 1"),
    (MISSPELLED, "zoo_register_modles"),
])
def test_a_broken_plugin_is_isolated_and_reported(make_distribution, source, error):
    good = make_distribution(GOOD.format(names=["fine"]))
    bad = make_distribution(source, name="zoo-broken", version="0.9")
    plugins = PluginSet()
    with pytest.warns(PluginWarning, match=r"plugin '.*' \(zoo-broken 0.9\) failed to load") as caught:
        plugins.load_entry_points(entry_points(bad, good))
    assert error in str(caught[0].message)
    assert plugins.infos[bad].status == "failed" and error in plugins.infos[bad].error
    assert plugins.infos[good].status == "loaded"
    assert plugins.registry.names() == ["fine"]
    assert not plugins.manager.has_plugin(bad)


def test_a_name_clash_fails_the_second_plugin_naming_both(make_distribution):
    first = make_distribution(GOOD.format(names=["shared", "only_first"]), name="zoo-first")
    second = make_distribution(GOOD.format(names=["only_second", "shared"]), name="zoo-second")
    plugins = PluginSet()
    with pytest.warns(PluginWarning, match=r"'shared' is registered twice: by plugin .*\(zoo-first 1.0\) "
                                           r"and by plugin .*\(zoo-second 1.0\)"):
        plugins.load_entry_points(entry_points(first, second))
    assert plugins.registry.names() == ["only_first", "shared"]  # nothing partial from the second
    assert plugins.infos[second].status == "failed"


def test_allowlist_by_entry_point_or_distribution(make_distribution, monkeypatch):
    a = make_distribution(GOOD.format(names=["from_a"]), name="zoo-a")
    b = make_distribution(GOOD.format(names=["from_b"]), name="zoo-b")
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", f"zoo-b, {a}")
    plugins = PluginSet()
    plugins.load_entry_points(entry_points(a, b))
    assert plugins.registry.names() == ["from_a", "from_b"]
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "zoo-b")
    plugins = PluginSet()
    plugins.load_entry_points(entry_points(a, b))
    assert plugins.registry.names() == ["from_b"] and plugins.infos[a].status == "skipped"
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "")
    plugins = PluginSet()
    plugins.load_entry_points(entry_points(a, b))
    assert len(plugins.registry) == 0


def test_strict_mode_turns_a_failure_into_an_error(make_distribution, monkeypatch):
    bad = make_distribution(IMPORT_ERROR, name="zoo-broken")
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match=r"zoo-broken 1.0.*ZOO_STRICT_PLUGINS is set"):
        PluginSet().load_entry_points(entry_points(bad))


def test_failed_plugin_is_named_when_a_model_is_missing(make_distribution, plugin_set):
    bad = make_distribution(IMPORT_ERROR, name="zoo-vision-broken")
    with pytest.warns(PluginWarning):
        plugin_set.load_entry_points(entry_points(bad))
    with pytest.raises(zoo.UnknownModelError, match="zoo-vision-broken 1.0"):
        zoo.load("resnet50")


def test_plugin_objects_can_be_added_and_removed(plugin_set):
    class Plugin:
        ZOO_PLUGIN_API = 1

        @zoo.hookimpl
        def zoo_register_models(self, register):
            register(zoo.ModelSpec(name="obj_model", builder=lambda: zoo.nn.LinearAct(2, 2), domain="test",
                                   task="toy", inputs=lambda cfg, n: ()))

    info = plugin_set.add(Plugin(), "inline")
    assert info.status == "loaded" and zoo.list_models() == ["obj_model"]
    plugin_set.remove("inline")
    assert zoo.list_models() == []


def test_importing_zoo_loads_no_plugin():
    code = "import zoo, zoo.plugins as p; assert p._default is None; zoo.list_models(); assert p._default is not None"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_installed_plugins_all_load():
    """The five in-tree distributions, installed by the README's test command, load cleanly."""
    plugins = PluginSet()
    plugins.load_entry_points(entry_points("vision", "nlp", "speech", "recsys", "medical"))
    assert {name: i.status for name, i in plugins.infos.items()} == dict.fromkeys(
        ["vision", "nlp", "speech", "recsys", "medical"], "loaded")


def test_the_readme_plugin_example_works(make_distribution, plugin_set):
    """The complete example in README.md, installed as a distribution, loads and passes `zoo check`."""
    import re
    from pathlib import Path

    from zoo.check import check_model

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    source = re.search(r"`zoo_toy/__init__.py`\n```python\n(.*?)```", readme, re.S).group(1)
    ep = make_distribution(source, name="zoo-toy", version="0.1.0")
    plugin_set.load_entry_points(entry_points(ep))
    assert plugin_set.infos[ep].status == "loaded", plugin_set.infos[ep].error
    spec = zoo.info("tiny_mlp")
    assert spec.num_params == sum(p.numel() for p in spec.build().parameters())
    assert check_model("tiny_mlp").passed
