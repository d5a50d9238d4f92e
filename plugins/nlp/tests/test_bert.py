"""BERT: the same outputs as transformers' BertForMaskedLM, BertForPreTraining and
BertForSequenceClassification from tiny random save_pretrained directories, padding and segments included."""

import pytest
import torch

import zoo
from zoo.ops import backend

transformers = pytest.importorskip("transformers", reason="the equivalence tests need transformers (zoo-nlp[test])")

CONFIG = dict(vocab_size=99, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=80,
              max_position_embeddings=40, type_vocab_size=2)


def _inputs():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 99, (3, 12), generator=g)
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[1, 8:], mask[2, 3:] = 0, 0
    segments = (torch.arange(12) >= 6).long().expand(3, -1)
    return ids, mask, segments


def _saved(peer_class, tmp_path, **extra):
    torch.manual_seed(0)
    peer = peer_class(transformers.BertConfig(**CONFIG, **extra)).eval()
    peer.save_pretrained(tmp_path)
    return peer


@pytest.mark.parametrize("peer_class", ["BertForMaskedLM", "BertForPreTraining"])
def test_masked_lm_logits_match_hf(peer_class, tmp_path):
    peer = _saved(getattr(transformers, peer_class), tmp_path)
    model = zoo.load("bert-base-uncased", weights=str(tmp_path))
    assert model.head == "mlm" and len(model.layers) == 2
    ids, mask, segments = _inputs()
    with torch.no_grad():
        out = peer(input_ids=ids, attention_mask=mask, token_type_ids=segments)
        expected = out.logits if peer_class == "BertForMaskedLM" else out.prediction_logits
        for mode in ("ext", "torch"):
            with backend(mode):
                ours = model(ids, mask, segments)
            for row, length in enumerate(mask.sum(1).tolist()):
                torch.testing.assert_close(ours[row, :length], expected[row, :length], atol=1e-4, rtol=1e-4)


def test_sequence_classification_matches_hf(tmp_path):
    peer = _saved(transformers.BertForSequenceClassification, tmp_path, num_labels=3)
    model = zoo.load("bert-base-uncased", weights=str(tmp_path))
    assert model.head == "classification" and model.classifier.out_features == 3
    ids, mask, segments = _inputs()
    with torch.no_grad(), backend("ext"):
        torch.testing.assert_close(model(ids, mask, segments),
                                   peer(input_ids=ids, attention_mask=mask, token_type_ids=segments).logits,
                                   atol=1e-4, rtol=1e-4)


def test_bad_inputs_are_named():
    model = zoo.load("bert-tiny")
    with pytest.raises(ValueError, match="argument 'head'"):
        zoo.load("bert-tiny", head="ner")
    with pytest.raises(ValueError, match="L <= 512"):
        model(torch.zeros(1, 513, dtype=torch.long))
    with pytest.raises(ValueError, match="argument 'attention_mask'"):
        model(torch.zeros(2, 5, dtype=torch.long), torch.ones(2, 4))
