"""zoo-recsys: recommendation models on zoo's kernels, registered through the `zoo.plugins` entry point."""

import zoo

from zoo_recsys import ncf

ZOO_PLUGIN_API = 1


@zoo.hookimpl
def zoo_register_models(register):
    """The recommendation line-up (grows as the attention and recurrent kernels land)."""
    register(ncf.NEUMF)
