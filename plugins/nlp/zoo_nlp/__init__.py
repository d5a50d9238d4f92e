"""zoo-nlp: language models on zoo's kernels, registered through the `zoo.plugins` entry point."""

import zoo

from zoo_nlp import lstm_classifier

ZOO_PLUGIN_API = 1


@zoo.hookimpl
def zoo_register_models(register):
    """The NLP line-up (grows as the attention and recurrent kernels land)."""
    register(lstm_classifier.LSTM_CLASSIFIER)
