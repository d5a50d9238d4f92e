"""zoo-recsys: recommendation models on zoo's kernels, registered through the `zoo.plugins` entry point."""

import zoo

from zoo_recsys import dlrm, gru4rec, ncf, sasrec, two_tower

ZOO_PLUGIN_API = 1


@zoo.hookimpl
def zoo_register_models(register):
    """Collaborative filtering (NeuMF), click-through (DLRM), retrieval (two-tower), sequential (SASRec, GRU4Rec)."""
    for spec in [ncf.NEUMF, dlrm.DLRM_SPEC, two_tower.TWO_TOWER, sasrec.SASREC, gru4rec.GRU4REC]:
        register(spec)
