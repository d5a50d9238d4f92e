"""zoo.nn.MultiheadAttention against torch.nn.MultiheadAttention, and the Attention block:
KV-cache decoding equals the full causal pass, rotary embeddings are relative, GQA works."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.nn import Attention, KVCache, MultiheadAttention, apply_rotary
from zoo.ops import backend

CONFIGS = [
    dict(embed_dim=16, num_heads=4),
    dict(embed_dim=16, num_heads=2, batch_first=True),
    dict(embed_dim=16, num_heads=4, kdim=6, vdim=10, batch_first=True),
    dict(embed_dim=12, num_heads=3, bias=False),
]


def pair(config):
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(**config, dtype=torch.float64)
    ours = MultiheadAttention(**config, dtype=torch.float64)
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    return ours.eval(), theirs.eval()


def inputs(config, n=3, lq=5, lk=7):
    g = torch.Generator().manual_seed(1)
    first = (n, lq) if config.get("batch_first") else (lq, n)
    first_k = (n, lk) if config.get("batch_first") else (lk, n)
    q = torch.randn(*first, config["embed_dim"], generator=g, dtype=torch.float64)
    k = torch.randn(*first_k, config.get("kdim") or config["embed_dim"], generator=g, dtype=torch.float64)
    v = torch.randn(*first_k, config.get("vdim") or config["embed_dim"], generator=g, dtype=torch.float64)
    return q, k, v


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_multihead_attention_matches_torch(config):
    ours, theirs = pair(config)
    q, k, v = inputs(config)
    padding = torch.zeros(3, 7, dtype=torch.bool)
    padding[0, -2:] = True
    masks = [
        {},
        {"key_padding_mask": padding},
        {"attn_mask": torch.rand(5, 7, generator=torch.Generator().manual_seed(2)) > 0.8},
        {"attn_mask": torch.randn(3 * ours.num_heads, 5, 7, dtype=torch.float64),
         "key_padding_mask": torch.zeros(3, 7, dtype=torch.float64).masked_fill(padding, float("-inf"))},
    ]
    with backend("ext"):
        for kw in masks:
            expected, _ = theirs(q, k, v, need_weights=False, **kw)
            got, weights = ours(q, k, v, need_weights=False, **kw)
            assert weights is None
            torch.testing.assert_close(got, expected, msg=lambda m: f"{kw.keys()}: {m}")
        # PyTorch's path when the weights are asked for
        torch.testing.assert_close(ours(q, k, v)[1], theirs(q, k, v)[1])


def test_multihead_attention_causal_and_unbatched():
    ours, theirs = pair(dict(embed_dim=8, num_heads=2))
    x = torch.randn(6, 8, dtype=torch.float64)  # unbatched (L, E)
    causal = nn.Transformer.generate_square_subsequent_mask(6, dtype=torch.float64)
    with backend("ext"):
        torch.testing.assert_close(ours(x, x, x, need_weights=False, attn_mask=causal, is_causal=True)[0],
                                   theirs(x, x, x, need_weights=False, attn_mask=causal, is_causal=True)[0])
        with pytest.raises(ValueError, match="argument 'attn_mask'"):
            ours(x, x, x, need_weights=False, is_causal=True)


@pytest.mark.parametrize("kv_heads, rotary", [(4, False), (2, True), (1, True)])
def test_decoding_with_a_kv_cache_equals_the_full_causal_pass(kv_heads, rotary):
    torch.manual_seed(0)
    block = Attention(32, 4, num_kv_heads=kv_heads, rotary=rotary, causal=True).double().eval()
    x = torch.randn(2, 9, 32, dtype=torch.float64)
    with backend("ext"):
        full = block(x)
        cache = KVCache()
        steps = [block(x[:, :4], cache=cache)] + [block(x[:, i:i + 1], cache=cache) for i in range(4, 9)]
    assert len(cache) == 9
    torch.testing.assert_close(torch.cat(steps, dim=1), full)
    with backend("torch"):
        torch.testing.assert_close(block(x), full)


def test_rotary_scores_depend_only_on_relative_position():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 1, 1, 16, generator=g, dtype=torch.float64), torch.randn(1, 1, 1, 16, generator=g, dtype=torch.float64)
    score = (apply_rotary(q, 3) * apply_rotary(k, 1)).sum()
    shifted = (apply_rotary(q, 13) * apply_rotary(k, 11)).sum()
    torch.testing.assert_close(score, shifted)
    assert not torch.allclose(score, (apply_rotary(q, 4) * apply_rotary(k, 1)).sum())


def test_attention_block_arguments_are_checked():
    with pytest.raises(ValueError, match="argument 'num_kv_heads'"):
        Attention(32, 4, num_kv_heads=3)
    with pytest.raises(ValueError, match="argument 'dim'"):
        Attention(30, 4)
