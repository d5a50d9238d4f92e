"""T5 and mT5: the same logits and greedy outputs as transformers' from tiny random save_pretrained
directories; greedy with the cache equals greedy without; beam search against exhaustive search."""

import itertools

import pytest
import torch

import zoo
from zoo.ops import backend

transformers = pytest.importorskip("transformers", reason="the equivalence tests need transformers (zoo-nlp[test])")

VARIANTS = {  # T5 v1.0 (ReLU, tied, scaled head) and mT5 (gated GELU, separate head)
    "t5": (transformers.T5Config, transformers.T5ForConditionalGeneration, {"feed_forward_proj": "relu"}, True),
    "mt5": (transformers.MT5Config, transformers.MT5ForConditionalGeneration, {"feed_forward_proj": "gated-gelu"}, False),
}


def _saved(variant, directory):
    config_class, model_class, extra, tied = VARIANTS[variant]
    config = config_class(vocab_size=90, d_model=40, d_kv=12, d_ff=56, num_layers=2, num_heads=3,
                          relative_attention_num_buckets=8, relative_attention_max_distance=20, **extra)
    config.tie_word_embeddings = tied  # (transformers 5 ignores it as a constructor argument)
    torch.manual_seed(0)
    peer = model_class(config).eval()
    peer.encoder.embed_tokens = peer.decoder.embed_tokens = peer.shared  # one input embedding, as mT5's files have
    peer.save_pretrained(directory)
    return peer


def _batch():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(2, 90, (2, 30), generator=g)  # longer than max_distance: the logarithmic buckets
    mask = torch.ones(2, 30, dtype=torch.long)
    mask[1, 21:] = 0
    return ids, mask, torch.cat([torch.zeros(2, 1, dtype=torch.long), torch.randint(2, 90, (2, 25), generator=g)], 1)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_hf_directory_gives_hf_logits_and_greedy_outputs(variant, tmp_path):
    peer = _saved(variant, tmp_path)
    model = zoo.load("t5-small" if variant == "t5" else "mt5-small", weights=str(tmp_path))
    assert len(model.decoder.block) == 2 and model.tie_word_embeddings == VARIANTS[variant][3]
    ids, mask, decoder_ids = _batch()
    with torch.no_grad():
        expected = peer(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits
        for mode in ("ext", "torch"):
            with backend(mode):
                torch.testing.assert_close(model(ids, decoder_ids, mask), expected, atol=1e-4, rtol=1e-4)
        reference = peer.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False, num_beams=1,
                                  decoder_start_token_id=0)
    ours = model.generate(ids, mask, max_new_tokens=10)
    assert torch.equal(ours[:, :reference.shape[1]], reference)
    assert torch.equal(ours, model.generate(ids, mask, max_new_tokens=10, use_cache=False))


def test_beam_search_with_every_prefix_kept_is_exhaustive_search():
    """Vocabulary 6, 3 steps, 36 beams: every 2-token prefix survives, so the result is the best of all 216."""
    model = zoo.load("t5-tiny", vocab_size=6, eos_token_id=99)  # an eos it never emits: fixed-length outputs
    ids = torch.tensor([[3, 1, 4, 1, 5]])
    with torch.no_grad():
        beam = model.generate(ids, max_new_tokens=3, num_beams=36)[0]
        encoded = model.encode(ids)
        candidates = torch.tensor([[0, *rest] for rest in itertools.product(range(6), repeat=3)])
        log_probs = model.decode(candidates[:, :-1], encoded.expand(len(candidates), -1, -1)).log_softmax(-1)
        totals = log_probs.gather(2, candidates[:, 1:, None]).squeeze(-1).sum(1)
    assert torch.equal(beam, candidates[totals.argmax()])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="argument 'feed_forward_proj'"):
        zoo.load("t5-tiny", feed_forward_proj="swiglu")
    model = zoo.load("t5-tiny")
    with pytest.raises(ValueError, match="argument 'attention_mask'"):
        model.encode(torch.ones(1, 4, dtype=torch.long), torch.ones(1, 3))
    with pytest.raises(ValueError, match="'num_beams'"):
        model.generate(torch.ones(1, 4, dtype=torch.long), num_beams=0)


def test_separate_encoder_embeddings_are_refused():
    from zoo_nlp.t5 import hf_t5_to_zoo

    shared = torch.randn(6, 4)
    assert "encoder.embed_tokens.weight" not in hf_t5_to_zoo({"shared.weight": shared,
                                                               "encoder.embed_tokens.weight": shared.clone()})
    with pytest.raises(ValueError, match="embed_tokens differ from shared.weight"):
        hf_t5_to_zoo({"shared.weight": shared, "encoder.embed_tokens.weight": torch.randn(6, 4)})
