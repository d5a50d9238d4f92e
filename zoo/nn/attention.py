"""Attention layers on zoo's fused attention kernel.

MultiheadAttention is torch.nn.MultiheadAttention with the same arguments and
state_dict; with need_weights=False it runs on our kernel. Attention is the
block the plugins' transformers use: fused qkv projection, grouped-query heads,
optional rotary position embeddings and a KV cache for decoding.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.nn.linear import Linear
from zoo.ops.attention import scaled_dot_product_attention
from zoo.ops.linear import linear


def _as_additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A PyTorch-MHA mask (bool True = masked out, or additive float) as an additive float mask."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    return mask.to(dtype)


class MultiheadAttention(nn.MultiheadAttention):
    """Drop-in for torch.nn.MultiheadAttention (same arguments, same state_dict keys).

    With need_weights=False the attention runs on zoo's kernel. need_weights=True
    (PyTorch's default, which must return the attention matrix), add_bias_kv and
    add_zero_attn take PyTorch's own path. One difference on our path: a query
    that can attend to no key yields 0 where PyTorch yields NaN.
    """

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if need_weights or self.bias_k is not None or self.add_zero_attn:
            return super().forward(query, key, value, key_padding_mask=key_padding_mask, need_weights=need_weights,
                                   attn_mask=attn_mask, average_attn_weights=average_attn_weights, is_causal=is_causal)
        if is_causal and attn_mask is None:
            raise ValueError("argument 'attn_mask' is required with is_causal=True (as in torch.nn.MultiheadAttention)")
        batched = query.dim() == 3
        if not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            key_padding_mask = key_padding_mask.unsqueeze(0) if key_padding_mask is not None else None
        elif not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        n, lq, _ = query.shape
        lk = key.shape[1]
        if self._qkv_same_embed_dim:
            w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None, None, None)

        def heads(x, w, b, length):
            return linear(x, w, b).view(n, length, self.num_heads, self.head_dim).transpose(1, 2)

        q, k, v = heads(query, w_q, b_q, lq), heads(key, w_k, b_k, lk), heads(value, w_v, b_v, lk)
        use_causal = is_causal and key_padding_mask is None  # then attn_mask is only the causal hint
        mask = None
        if attn_mask is not None and not use_causal:
            mask = _as_additive(attn_mask, q.dtype)
            mask = mask.view(n, self.num_heads, lq, lk) if mask.dim() == 3 else mask
        if key_padding_mask is not None:
            padding = _as_additive(key_padding_mask, q.dtype).view(n, 1, 1, lk)
            mask = padding if mask is None else mask + padding
        out = scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=use_causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        out = linear(out.transpose(1, 2).reshape(n, lq, self.embed_dim), self.out_proj.weight, self.out_proj.bias)
        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, None


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rotary(x: torch.Tensor, start: int, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding (RoFormer, rotate-half layout as in GPT-NeoX/LLaMA) of x (..., L, D)
    for positions start .. start + L - 1."""
    d = x.shape[-1]
    inv_freq = base ** (-torch.arange(0, d, 2, device=x.device, dtype=torch.float64) / d)
    positions = torch.arange(start, start + x.shape[-2], device=x.device, dtype=torch.float64)
    angles = torch.outer(positions, inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    return x * angles.cos().to(x.dtype) + rotate_half(x) * angles.sin().to(x.dtype)


class KVCache:
    """Keys and values of the positions seen so far, for one Attention layer during decoding."""

    def __init__(self) -> None:
        self.key: torch.Tensor | None = None
        self.value: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.key is None else self.key.shape[-2]

    def append(self, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add this step's keys/values (B, H, L, D) and return all of them."""
        if self.key is None:
            self.key, self.value = key, value
        else:
            self.key, self.value = torch.cat((self.key, key), dim=-2), torch.cat((self.value, value), dim=-2)
        return self.key, self.value


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection, on zoo's attention kernel.

    num_kv_heads < num_heads gives grouped-query attention; rotary=True applies
    rotary position embeddings to queries and keys; causal=True masks future
    positions, also across a KV cache (query i of a step sees every cached key
    and the step's keys up to i).
    """

    def __init__(self, dim: int, num_heads: int, *, num_kv_heads: int | None = None, bias: bool = True,
                 rotary: bool = False, rotary_base: float = 10000.0, causal: bool = False, dropout: float = 0.0):
        super().__init__()
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        if dim % num_heads:
            raise ValueError(f"argument 'dim' ({dim}) must be divisible by 'num_heads' ({num_heads})")
        if num_kv_heads < 1 or num_heads % num_kv_heads:
            raise ValueError(f"argument 'num_kv_heads' ({num_kv_heads}) must divide 'num_heads' ({num_heads})")
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, dim // num_heads
        if rotary and self.head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head dim, got {self.head_dim}")
        self.rotary, self.rotary_base, self.causal, self.dropout = rotary, rotary_base, causal, dropout
        self.qkv = Linear(dim, (num_heads + 2 * num_kv_heads) * self.head_dim, bias=bias)
        self.proj = Linear(dim, dim, bias=bias)

    def forward(self, x: torch.Tensor, *, attn_mask: torch.Tensor | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        """x (B, L, dim) -> (B, L, dim). attn_mask is bool (True = attend) or additive, broadcast to
        (B, H, L, keys); with a cache, keys are the cached positions followed by this step's."""
        b, length, dim = x.shape
        q, k, v = self.qkv(x).split(
            [self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim, self.num_kv_heads * self.head_dim], -1)
        q = q.view(b, length, self.num_heads, self.head_dim).transpose(1, 2)
        k = k.view(b, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(b, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        start = len(cache) if cache is not None else 0
        if self.rotary:
            q, k = apply_rotary(q, start, self.rotary_base), apply_rotary(k, start, self.rotary_base)
        if cache is not None:
            k, v = cache.append(k, v)
        is_causal = self.causal and start == 0 and attn_mask is None
        if self.causal and not is_causal and length > 1:  # causal across the cache: bottom-right aligned
            keys = start + length
            allowed = torch.ones(length, keys, dtype=torch.bool, device=x.device).tril(diagonal=start)
            attn_mask = allowed if attn_mask is None else _combine(attn_mask, allowed, q.dtype)
        out = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                           dropout_p=self.dropout if self.training else 0.0,
                                           enable_gqa=self.num_kv_heads != self.num_heads)
        return self.proj(out.transpose(1, 2).reshape(b, length, dim))


def _combine(mask: torch.Tensor, allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A user mask (bool True = attend, or additive) and a bool allowed-mask as one mask."""
    if mask.dtype == torch.bool:
        return mask & allowed
    return mask.to(dtype).masked_fill(~allowed, float("-inf"))
