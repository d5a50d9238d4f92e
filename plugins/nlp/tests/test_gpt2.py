"""GPT-2: the same logits and greedy continuations as transformers' GPT2LMHeadModel from a tiny random
save_pretrained directory; generation with the KV cache equals generation without; sampling filters."""

import pytest
import torch

import zoo
from zoo.ops import backend
from zoo_nlp.generation import filter_logits

transformers = pytest.importorskip("transformers", reason="the equivalence tests need transformers (zoo-nlp[test])")


@pytest.fixture(scope="module")
def hf_pair(tmp_path_factory):
    """(transformers model, its save_pretrained directory): 3 layers, 4 heads of 12, vocabulary 120."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=120, n_positions=64, n_embd=48, n_layer=3, n_head=4,
                                     bos_token_id=0, eos_token_id=0)
    peer = transformers.GPT2LMHeadModel(config).eval()
    directory = tmp_path_factory.mktemp("gpt2")
    peer.save_pretrained(directory)
    return peer, directory


def test_hf_directory_gives_hf_logits_with_padding(hf_pair):
    peer, directory = hf_pair
    model = zoo.load("gpt2", weights=str(directory))  # the architecture comes from config.json
    assert model.wte.weight.shape == (120, 48) and len(model.h) == 3
    ids = torch.randint(1, 120, (3, 10), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(3, 10, dtype=torch.long)
    mask[1, 7:], mask[2, 4:] = 0, 0  # right padding
    with torch.no_grad():
        expected = peer(input_ids=ids, attention_mask=mask).logits
        for mode in ("ext", "torch"):
            with backend(mode):
                ours = model(ids, mask)
            for row, length in enumerate(mask.sum(1).tolist()):
                torch.testing.assert_close(ours[row, :length], expected[row, :length], atol=1e-4, rtol=1e-4)


def test_greedy_generation_matches_hf_and_the_cache_changes_nothing(hf_pair):
    peer, directory = hf_pair
    model = zoo.load("gpt2", weights=str(directory))
    prompt = torch.randint(1, 120, (2, 5), generator=torch.Generator().manual_seed(2))
    expected = peer.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=12, do_sample=False,
                             pad_token_id=0)
    cached = model.generate(prompt, max_new_tokens=12, eos_token_id=0)
    uncached = model.generate(prompt, max_new_tokens=12, eos_token_id=0, use_cache=False)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached, expected[:, :cached.shape[1]])


def test_left_padded_rows_generate_as_they_would_alone():
    model = zoo.load("gpt2-tiny")
    short, long = torch.tensor([[5, 9, 3]]), torch.tensor([[7, 1, 8, 2, 6]])
    batch = torch.tensor([[0, 0, 5, 9, 3], [7, 1, 8, 2, 6]])
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    together = model.generate(batch, max_new_tokens=6, attention_mask=mask)
    assert torch.equal(together[0, 2:], model.generate(short, max_new_tokens=6)[0])
    assert torch.equal(together[1], model.generate(long, max_new_tokens=6)[0])


def test_sampling_is_seeded_and_filtered():
    model = zoo.load("gpt2-tiny")
    prompt = torch.tensor([[1, 2, 3]])
    draw = lambda seed, **kw: model.generate(prompt, 8, do_sample=True, generator=torch.Generator().manual_seed(seed),
                                             **kw)  # noqa: E731
    assert torch.equal(draw(0), draw(0))
    assert torch.equal(draw(3, top_k=1), model.generate(prompt, 8))  # top-1 sampling is greedy
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0, 3.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, True, True, True, False]]
    p = logits.softmax(-1)[0]  # sorted: 4 (0.56), 0 (0.21), 1 (0.08), ...
    kept = ~torch.isinf(filter_logits(logits, top_p=float(p[4] + p[0]) - 1e-3))
    assert kept.tolist() == [[True, False, False, False, True]]
    with pytest.raises(ValueError, match="argument 'top_p'"):
        filter_logits(logits, top_p=0)


def test_bad_inputs_are_named():
    model = zoo.load("gpt2-tiny")
    with pytest.raises(ValueError, match="exceed n_positions"):
        model(torch.zeros(1, 129, dtype=torch.long))
    with pytest.raises(ValueError, match="argument 'attention_mask'"):
        model(torch.zeros(1, 4, dtype=torch.long), torch.ones(1, 5))
    with pytest.raises(ValueError, match="argument 'temperature'"):
        model.generate(torch.zeros(1, 4, dtype=torch.long), 3, do_sample=True, temperature=0)


@pytest.mark.parametrize("name", ["gpt2", "bert-base-uncased"])
def test_bench_peers_check_the_same_weights_give_the_same_result(name):
    """zoo bench models --peers: the peer is built, our model takes its weights, and the two agree (or it raises)."""
    run = zoo.info(name).peer(1)
    assert run.units >= 1 and run.unit in ("tokens/s", "samples/s") and "transformers" in run.label
