"""zoo-speech: acoustic models on zoo's kernels, registered through the `zoo.plugins` entry point."""

import zoo

from zoo_speech import kws

ZOO_PLUGIN_API = 1


@zoo.hookimpl
def zoo_register_models(register):
    """The speech line-up (grows as the conv, recurrent and attention kernels land)."""
    register(kws.KWS_CNN)
