"""zoo-nlp: language models on zoo's kernels, registered through the `zoo.plugins` entry point."""

import zoo

from zoo_nlp import bert, gpt2, lstm_classifier, t5

ZOO_PLUGIN_API = 1


@zoo.hookimpl
def zoo_register_models(register):
    """GPT-2 (tiny to xl), BERT (tiny, base, large), T5 / mT5 and the LSTM text classifier."""
    for spec in [*gpt2.GPT2S, *bert.BERTS, *t5.T5S, lstm_classifier.LSTM_CLASSIFIER]:
        register(spec)
