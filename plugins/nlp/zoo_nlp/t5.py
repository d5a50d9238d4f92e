"""T5 / mT5 (Raffel et al. 2019; Xue et al. 2020): encoder-decoder transformer for text-to-text tasks.

Relative position buckets give every attention layer a learned per-head bias
(computed once per stack by its first layer); attention is unscaled and runs on
zoo's fused kernel with that bias as an additive mask; RMS layer norms, no
biases anywhere. `feed_forward_proj` "relu" is T5 v1.0, "gated-gelu" is
T5 v1.1 / mT5. Module names are Hugging Face's (encoder.block.0.layer.0.
SelfAttention.q), so `zoo.load("t5-small", weights=DIR)` reads a
save_pretrained directory as is, config.json setting the architecture.
Decoding: greedy with a KV cache (`generate`) or beam search (`num_beams > 1`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.nn import KVCache, Linear
from zoo.ops import linear, scaled_dot_product_attention
from zoo_nlp import generation

FEED_FORWARDS = ("relu", "gated-gelu")


class T5LayerNorm(nn.Module):
    """Scale only (RMS norm): x / rms(x) * weight, the statistics in float32."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.float().pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps)).to(x.dtype)


def relative_position_bucket(relative: torch.Tensor, bidirectional: bool, num_buckets: int,
                             max_distance: int) -> torch.Tensor:
    """T5's buckets of key - query offsets: exact for small ones, logarithmic up to max_distance."""
    buckets = torch.zeros_like(relative)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative > 0).long() * num_buckets
        relative = relative.abs()
    else:
        relative = -relative.clamp(max=0)
    exact = num_buckets // 2
    large = exact + (torch.log(relative.float().clamp(min=1) / exact) / math.log(max_distance / exact)
                     * (num_buckets - exact)).long()
    return buckets + torch.where(relative < exact, relative, large.clamp(max=num_buckets - 1))


class T5Attention(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, relative_bias: bool, bidirectional: bool,
                 num_buckets: int, max_distance: int):
        super().__init__()
        self.heads, self.head_dim, self.bidirectional = heads, head_dim, bidirectional
        self.num_buckets, self.max_distance = num_buckets, max_distance
        inner = heads * head_dim
        self.q, self.k, self.v = (Linear(dim, inner, bias=False) for _ in range(3))
        self.o = Linear(inner, dim, bias=False)
        if relative_bias:
            self.relative_attention_bias = nn.Embedding(num_buckets, heads)

    def position_bias(self, queries: int, keys: int, offset: int, device) -> torch.Tensor:
        """(1, heads, queries, keys) learned bias for queries at offset .. offset + queries - 1."""
        relative = torch.arange(keys, device=device)[None, :] - torch.arange(offset, offset + queries, device=device)[:, None]
        buckets = relative_position_bucket(relative, self.bidirectional, self.num_buckets, self.max_distance)
        return self.relative_attention_bias(buckets).permute(2, 0, 1)[None]

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None, source: torch.Tensor | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        """Self-attention (source None, optionally over a cache) or cross-attention over `source`;
        `bias` is additive (or None), broadcast to (B, heads, queries, keys)."""
        q = self._heads(self.q(x))
        if cache is not None and source is not None and len(cache):
            k, v = cache.key, cache.value  # cross-attention keys/values are the encoder's, computed once
        else:
            memory = x if source is None else source
            k, v = self._heads(self.k(memory)), self._heads(self.v(memory))
            if cache is not None:
                k, v = cache.append(k, v)
        out = scaled_dot_product_attention(q, k, v, attn_mask=None if bias is None else bias.to(q.dtype), scale=1.0)
        return self.o(out.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1))


class SelfAttentionLayer(nn.Module):
    def __init__(self, attention: T5Attention, dim: int, eps: float):
        super().__init__()
        self.SelfAttention, self.layer_norm = attention, T5LayerNorm(dim, eps)

    def forward(self, x, bias, cache=None):
        return x + self.SelfAttention(self.layer_norm(x), bias, cache=cache)


class CrossAttentionLayer(nn.Module):
    def __init__(self, attention: T5Attention, dim: int, eps: float):
        super().__init__()
        self.EncDecAttention, self.layer_norm = attention, T5LayerNorm(dim, eps)

    def forward(self, x, bias, source, cache=None):
        return x + self.EncDecAttention(self.layer_norm(x), bias, source=source, cache=cache)


class DenseReluDense(nn.Module):
    def __init__(self, dim: int, d_ff: int, gated: bool):
        super().__init__()
        self.gated = gated
        if gated:
            self.wi_0, self.wi_1 = Linear(dim, d_ff, bias=False), Linear(dim, d_ff, bias=False)
        else:
            self.wi = Linear(dim, d_ff, bias=False)
        self.wo = Linear(d_ff, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = F.gelu(self.wi_0(x), approximate="tanh") * self.wi_1(x) if self.gated else F.relu(self.wi(x))
        return self.wo(hidden)


class FeedForwardLayer(nn.Module):
    def __init__(self, dim: int, d_ff: int, gated: bool, eps: float):
        super().__init__()
        self.DenseReluDense, self.layer_norm = DenseReluDense(dim, d_ff, gated), T5LayerNorm(dim, eps)

    def forward(self, x):
        return x + self.DenseReluDense(self.layer_norm(x))


class Block(nn.Module):
    def __init__(self, config: dict, decoder: bool, first: bool):
        super().__init__()
        dim, eps = config["d_model"], config["layer_norm_epsilon"]

        def attention(relative_bias: bool) -> T5Attention:
            return T5Attention(dim, config["num_heads"], config["d_kv"], relative_bias, not decoder,
                               config["relative_attention_num_buckets"], config["relative_attention_max_distance"])

        layers = [SelfAttentionLayer(attention(first), dim, eps)]
        if decoder:
            layers.append(CrossAttentionLayer(attention(False), dim, eps))
        layers.append(FeedForwardLayer(dim, config["d_ff"], config["feed_forward_proj"] == "gated-gelu", eps))
        self.layer = nn.ModuleList(layers)


class Stack(nn.Module):
    def __init__(self, config: dict, decoder: bool):
        super().__init__()
        count = config["num_decoder_layers"] if decoder else config["num_layers"]
        self.block = nn.ModuleList(Block(config, decoder, first=i == 0) for i in range(count))
        self.final_layer_norm = T5LayerNorm(config["d_model"], config["layer_norm_epsilon"])

    def self_bias(self, queries: int, keys: int, offset: int, device) -> torch.Tensor:
        return self.block[0].layer[0].SelfAttention.position_bias(queries, keys, offset, device)


def _padding_bias(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """(B, 1, 1, keys) additive: 0 where mask is 1, -inf at padding; None without a mask."""
    if mask is None:
        return None
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask == 0, float("-inf"))[:, None, None]


class T5(nn.Module):
    def __init__(self, vocab_size: int = 32128, d_model: int = 512, d_kv: int = 64, d_ff: int = 2048,
                 num_layers: int = 6, num_decoder_layers: int = 6, num_heads: int = 8,
                 relative_attention_num_buckets: int = 32, relative_attention_max_distance: int = 128,
                 feed_forward_proj: str = "relu", tie_word_embeddings: bool = True, layer_norm_epsilon: float = 1e-6,
                 decoder_start_token_id: int = 0, eos_token_id: int = 1):
        super().__init__()
        if feed_forward_proj not in FEED_FORWARDS:
            raise ValueError(f"argument 'feed_forward_proj' must be one of {', '.join(map(repr, FEED_FORWARDS))}, "
                             f"got {feed_forward_proj!r}")
        config = {"d_model": d_model, "d_kv": d_kv, "d_ff": d_ff, "num_layers": num_layers,
                  "num_decoder_layers": num_decoder_layers, "num_heads": num_heads,
                  "relative_attention_num_buckets": relative_attention_num_buckets,
                  "relative_attention_max_distance": relative_attention_max_distance,
                  "feed_forward_proj": feed_forward_proj, "layer_norm_epsilon": layer_norm_epsilon}
        self.d_model, self.tie_word_embeddings = d_model, tie_word_embeddings
        self.decoder_start_token_id, self.eos_token_id = decoder_start_token_id, eos_token_id
        self.shared = nn.Embedding(vocab_size, d_model)
        self.encoder, self.decoder = Stack(config, decoder=False), Stack(config, decoder=True)
        if not tie_word_embeddings:
            self.lm_head = Linear(d_model, vocab_size, bias=False)
        for name, p in self.named_parameters():  # T5's initialisation (Mesh TensorFlow's scales)
            fan_in = p.shape[-1]
            nn.init.normal_(p, std=1.0 if p.dim() == 1 or "shared" in name else fan_in**-0.5)
            if "layer_norm" in name:
                nn.init.ones_(p)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's final states (B, L, d_model). attention_mask: 1 for tokens, 0 for padding."""
        if input_ids.dim() != 2:
            raise ValueError(f"argument 'input_ids' must be (B, L), got shape {tuple(input_ids.shape)}")
        if attention_mask is not None and attention_mask.shape != input_ids.shape:
            raise ValueError(f"argument 'attention_mask' must have the shape of input_ids {tuple(input_ids.shape)}, "
                             f"got {tuple(attention_mask.shape)}")
        x = self.shared(input_ids)
        length = input_ids.shape[1]
        bias = self.encoder.self_bias(length, length, 0, x.device)
        padding = _padding_bias(attention_mask, x.dtype)
        bias = bias if padding is None else bias + padding
        for block in self.encoder.block:
            x = block.layer[1](block.layer[0](x, bias))
        return self.encoder.final_layer_norm(x)

    def decode(self, decoder_input_ids: torch.Tensor, encoded: torch.Tensor, attention_mask: torch.Tensor | None = None,
               caches: list[tuple[KVCache, KVCache]] | None = None) -> torch.Tensor:
        """Next-token logits (B, Ld, vocab) given the encoder's states, after the caches' tokens if given."""
        x = self.shared(decoder_input_ids)
        past = len(caches[0][0]) if caches else 0
        length = decoder_input_ids.shape[1]
        causal = torch.ones(length, past + length, dtype=torch.bool, device=x.device).tril(diagonal=past)
        self_bias = self.decoder.self_bias(length, past + length, past, x.device).masked_fill(~causal, float("-inf"))
        cross_bias = _padding_bias(attention_mask, x.dtype)
        for i, block in enumerate(self.decoder.block):
            self_cache, cross_cache = caches[i] if caches is not None else (None, None)
            x = block.layer[0](x, self_bias, cache=self_cache)
            x = block.layer[1](x, cross_bias, encoded, cache=cross_cache)
            x = block.layer[2](x)
        x = self.decoder.final_layer_norm(x)
        if self.tie_word_embeddings:
            return linear(x * self.d_model**-0.5, self.shared.weight)
        return self.lm_head(x)

    def forward(self, input_ids: torch.Tensor, decoder_input_ids: torch.Tensor,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits (B, Ld, vocab): decoder_input_ids start with decoder_start_token_id."""
        return self.decode(decoder_input_ids, self.encode(input_ids, attention_mask), attention_mask)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, max_new_tokens: int = 20,
                 num_beams: int = 1, use_cache: bool = True) -> torch.Tensor:
        """Decoder tokens (B, 1 + generated), starting with decoder_start_token_id: greedy with a KV cache, or
        beam search (sum of log-probabilities, finished beams kept) with num_beams > 1. Rows that
        produced eos_token_id are padded with decoder_start_token_id (T5's pad) after it."""
        if num_beams < 1 or max_new_tokens < 0:
            raise ValueError(f"arguments 'num_beams' >= 1 and 'max_new_tokens' >= 0 required, got {num_beams} and "
                             f"{max_new_tokens}")
        encoded = self.encode(input_ids, attention_mask)
        if num_beams > 1:
            return torch.stack([self._beam_search(encoded[i:i + 1], None if attention_mask is None else
                                                  attention_mask[i:i + 1], max_new_tokens, num_beams)
                                for i in range(len(encoded))])
        start = torch.full((len(encoded), 1), self.decoder_start_token_id, device=encoded.device)
        return generation.generate(_DecoderSteps(self, encoded, attention_mask), start, max_new_tokens,
                                   eos_token_id=self.eos_token_id, pad_token_id=self.decoder_start_token_id,
                                   use_cache=use_cache)

    def _beam_search(self, encoded: torch.Tensor, mask: torch.Tensor | None, steps: int, beams: int) -> torch.Tensor:
        """One input's best sequence by log-probability among `beams` partial hypotheses kept at each step;
        a hypothesis that ends in eos stops growing and keeps its score. Returns (1 + steps,), padded."""
        pad = self.decoder_start_token_id
        hypotheses = torch.full((1, 1), pad, device=encoded.device)
        scores = torch.zeros(1, device=encoded.device)
        for _ in range(steps):
            done = hypotheses[:, -1] == self.eos_token_id
            if done.all():
                break
            log_probs = self.decode(hypotheses, encoded.expand(len(hypotheses), -1, -1),
                                    None if mask is None else mask.expand(len(hypotheses), -1))[:, -1].log_softmax(-1)
            # a finished hypothesis continues only with padding, at no cost
            log_probs[done] = float("-inf")
            log_probs[done, pad] = 0.0
            candidates = (scores[:, None] + log_probs).flatten()
            scores, index = candidates.topk(min(beams, int(torch.isfinite(candidates).sum())))
            rows, token = index // log_probs.shape[1], index % log_probs.shape[1]
            continuing = torch.where(done[rows], pad, token)
            hypotheses = torch.cat((hypotheses[rows], continuing[:, None]), dim=1)
        best = hypotheses[scores.argmax()]
        return F.pad(best, (0, 1 + steps - len(best)), value=pad)


class _DecoderSteps:
    """T5's decoder over one encoder output, in zoo_nlp.generation's step protocol (greedy decoding)."""

    def __init__(self, model: T5, encoded: torch.Tensor, attention_mask: torch.Tensor | None):
        self.model, self.encoded, self.attention_mask = model, encoded, attention_mask

    def new_caches(self) -> list[tuple[KVCache, KVCache]]:
        return [(KVCache(), KVCache()) for _ in self.model.decoder.block]

    def step(self, tokens: torch.Tensor, decoder_mask: torch.Tensor, caches) -> torch.Tensor:
        """decoder_mask is all ones (decoder tokens are never padding while generating) and unused."""
        return self.model.decode(tokens, self.encoded, self.attention_mask, caches)[:, -1]


def hf_config(config: dict) -> dict:
    """A Hugging Face T5Config / MT5Config (config.json) as our config."""
    projection = config.get("feed_forward_proj", "relu")
    if projection not in FEED_FORWARDS:
        raise ValueError(f"T5 config: feed_forward_proj {projection!r} is not supported ({', '.join(FEED_FORWARDS)})")
    tied = config.get("tie_word_embeddings", True)
    if config.get("scale_decoder_outputs", tied) != tied:
        raise ValueError("T5 config: scale_decoder_outputs different from tie_word_embeddings is not supported")
    return {"vocab_size": config["vocab_size"], "d_model": config["d_model"], "d_kv": config["d_kv"],
            "d_ff": config["d_ff"], "num_layers": config["num_layers"],
            "num_decoder_layers": config.get("num_decoder_layers") or config["num_layers"],
            "num_heads": config["num_heads"],
            "relative_attention_num_buckets": config.get("relative_attention_num_buckets", 32),
            "relative_attention_max_distance": config.get("relative_attention_max_distance", 128),
            "feed_forward_proj": projection, "tie_word_embeddings": tied,
            "layer_norm_epsilon": config.get("layer_norm_epsilon", 1e-6),
            "decoder_start_token_id": config.get("decoder_start_token_id") or 0,
            "eos_token_id": config.get("eos_token_id", 1)}


def hf_t5_to_zoo(state: dict) -> dict:
    """HF names are ours; only the copies of the shared embedding (and, when tied, the LM head) go."""
    shared = state.get("shared.weight")
    copies = [k for k in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight") if k in state]
    if any(shared is None or not torch.equal(state[k], shared) for k in copies):
        raise ValueError("argument 'weights': encoder/decoder embed_tokens differ from shared.weight; T5 here "
                         "shares one embedding between encoder, decoder and input")
    tied = shared is not None and "lm_head.weight" in state and torch.equal(state["lm_head.weight"], shared)
    return {k: v for k, v in state.items() if k not in copies and not (tied and k == "lm_head.weight")}


def _pair(config, batch_size):
    g = torch.Generator().manual_seed(0)
    return (torch.randint(2, config["vocab_size"], (batch_size, 16), generator=g),
            torch.randint(2, config["vocab_size"], (batch_size, 8), generator=g))


def _spec(name: str, num_params: int, **config) -> zoo.ModelSpec:
    return zoo.ModelSpec(
        name=name,
        builder=T5,
        domain="nlp",
        task="text2text-generation",
        inputs=_pair,
        default_config={**hf_config({"vocab_size": 32128, "d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6,
                                     "num_heads": 8}), **config},
        paper="https://arxiv.org/abs/2010.11934" if name.startswith("mt5") else "https://arxiv.org/abs/1910.10683",
        ops=("attention", "linear"),
        num_params=num_params,
        convert=hf_t5_to_zoo,
        convert_config=hf_config,
    )


T5S = [
    _spec("t5-small", 60506624),
    _spec("t5-base", 222903552, d_model=768, d_ff=3072, num_layers=12, num_decoder_layers=12, num_heads=12),
    _spec("mt5-small", 300176768, vocab_size=250112, d_ff=1024, num_layers=8, num_decoder_layers=8, num_heads=6,
          feed_forward_proj="gated-gelu", tie_word_embeddings=False),
    _spec("t5-tiny", 197632, vocab_size=512, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2,
          num_heads=4),
]
