"""The hooks a zoo plugin may implement (pluggy project "zoo").

A plugin is a module or object exposed through the entry-point group
`zoo.plugins`. It declares `ZOO_PLUGIN_API = PLUGIN_API_VERSION` and implements
hooks marked with `zoo.hookimpl`.
"""

import pluggy

PROJECT = "zoo"
ENTRY_POINT_GROUP = "zoo.plugins"
# Bump when a hook's contract changes incompatibly; plugins declaring another
# version are refused with a message instead of failing in odd ways later.
PLUGIN_API_VERSION = 1

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_register_models(register):
    """Register models: call `register(zoo.ModelSpec(...))` once per model."""


@hookspec
def zoo_register_weights(register):
    """Register published weights: call `register(zoo.WeightsSpec(...))` once per file."""
