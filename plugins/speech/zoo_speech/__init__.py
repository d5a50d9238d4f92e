"""zoo-speech: acoustic models on zoo's kernels, registered through the `zoo.plugins` entry point."""

import zoo

from zoo_speech import conformer, deepspeech2, kws

ZOO_PLUGIN_API = 1


@zoo.hookimpl
def zoo_register_models(register):
    """CTC speech recognisers (DeepSpeech2, Conformer) and the keyword-spotting CNN."""
    for spec in [deepspeech2.DEEPSPEECH2, conformer.CONFORMER, kws.KWS_CNN]:
        register(spec)
