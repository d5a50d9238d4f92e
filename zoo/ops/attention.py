"""Scaled-dot-product attention with the contract of torch.nn.functional.scaled_dot_product_attention.

Python half of csrc/attention/: argument handling (any leading batch dims,
grouped-query attention, mask broadcasting), the composed PyTorch reference (the
test oracle), the fallback onto PyTorch's own fused SDPA, and the fake kernels.
Autograd, whose backward is our own kernel, is csrc/attention/attention_autograd.cpp.

Semantics, as PyTorch's: is_causal is top-left aligned (query i sees keys j <= i,
also when Lq != Lk); a bool mask is True where attention is allowed; a float
mask is added to the scores. A query row that can see no key gets output 0 and
zero gradient, on every path (some of PyTorch's CUDA backends have given NaN there).

Where our kernel does not run, F.scaled_dot_product_attention does (flash or
memory-efficient where the device has them, never the L x L score matrix our
composed reference builds): under ZOO_KERNELS=torch, under auto where our kernel
is slower than PyTorch's (CUDA), and in every mode for dropout_p > 0 (not fused
into our kernel), an attn_mask that requires grad, and CPU dtypes other than
float32/float64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from zoo.ops import _extension
from zoo.ops.backend import use_kernel

KERNEL_DEVICES = ("cpu", "meta", "cuda")
# Our CUDA kernels pass their tests on an H200 (.ci/gpu) but run far slower there than PyTorch's
# own CUDA ops (README, "On a GPU"): `auto` runs PyTorch's own ops on CUDA tensors; `ext` runs ours.
EXT_ONLY_DEVICES = ("cuda",)


def _fail(argument: str, expected: str) -> None:
    raise ValueError(f"zoo.scaled_dot_product_attention: argument '{argument}' {expected}")


def _check(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa) -> None:
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, torch.Tensor) or t.dim() < 2:
            _fail(name, f"must be a tensor with at least 2 dims (..., L, E), got {getattr(t, 'shape', type(t).__name__)}")
        if not t.is_floating_point():
            _fail(name, f"must be floating point, got {t.dtype}")
    for name, t in (("key", key), ("value", value)):
        if t.dtype != query.dtype:
            _fail(name, f"must have the dtype of 'query' ({query.dtype}), got {t.dtype}")
        if t.device != query.device:
            _fail(name, f"must be on the device of 'query' ({query.device}), got {t.device}")
        if t.dim() != query.dim() or t.shape[:-3] != query.shape[:-3]:
            _fail(name, f"must have the batch dims of 'query' {tuple(query.shape[:-2])}, got {tuple(t.shape[:-2])}")
    if key.shape[-1] != query.shape[-1]:
        _fail("key", f"must have the embedding size of 'query' ({query.shape[-1]}), got {key.shape[-1]}")
    if value.shape[-2] != key.shape[-2] or (query.dim() > 2 and value.shape[-3] != key.shape[-3]):
        _fail("value", f"must have the heads and length of 'key' {tuple(key.shape[-3:-1])}, got {tuple(value.shape[-3:-1])}")
    if query.dim() > 2:
        hq, hkv = query.shape[-3], key.shape[-3]
        if enable_gqa and (hkv == 0 or hq % hkv):
            _fail("key", f"heads ({hkv}) must divide the query heads ({hq})")
        if not enable_gqa and hq != hkv:
            _fail("key", f"heads ({hkv}) must equal the query heads ({hq}); pass enable_gqa=True for grouped-query attention")
    if not 0.0 <= dropout_p < 1.0:
        _fail("dropout_p", f"must be in [0, 1), got {dropout_p}")
    if attn_mask is not None:
        if is_causal:
            _fail("attn_mask", "must be None when is_causal=True (as in PyTorch)")
        if attn_mask.dtype != torch.bool and attn_mask.dtype != query.dtype:
            _fail("attn_mask", f"must be bool or the dtype of 'query' ({query.dtype}), got {attn_mask.dtype}")
        target = (*query.shape[:-1], key.shape[-2])
        try:
            torch.broadcast_shapes(attn_mask.shape, target)
        except RuntimeError:
            _fail("attn_mask", f"must broadcast to {target}, got {tuple(attn_mask.shape)}")


def _to_4d(t: torch.Tensor) -> torch.Tensor:
    """(..., H, L, E) -> (B, H, L, E); 2-D and 3-D inputs get unit batch/head dims."""
    if t.dim() == 2:
        return t[None, None]
    if t.dim() == 3:
        return t.unsqueeze(1)
    return t.reshape(math.prod(t.shape[:-3]), *t.shape[-3:])


def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                  attn_mask: torch.Tensor | None = None, dropout_p: float = 0.0,
                                  is_causal: bool = False, scale: float | None = None,
                                  enable_gqa: bool = False) -> torch.Tensor:
    """F.scaled_dot_product_attention on our fused flash-style kernel (same arguments, same result)."""
    _check(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa)
    on_kernel = (
        use_kernel(query, op="attention", kernel_devices=KERNEL_DEVICES, ext_only_devices=EXT_ONLY_DEVICES)
        and dropout_p == 0.0
        and not (attn_mask is not None and attn_mask.requires_grad)
    )
    if not on_kernel:
        return _pytorch_fused(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    mask = None
    if attn_mask is not None:
        mask = _to_4d(attn_mask.expand(*query.shape[:-1], key.shape[-2]))
    out, _ = torch.ops.zoo.attention_forward.default(_to_4d(query), _to_4d(key), _to_4d(value), mask, is_causal, scale)
    return out.reshape(*query.shape[:-1], value.shape[-1])


def _pytorch_fused(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa):
    """F.scaled_dot_product_attention with our rule for rows that see no key: they are shown every key,
    so no backend PyTorch picks meets an all-masked row, then their output is zeroed (zero gradient too).
    Empty inputs take the composed path, which needs no kernel to accept them."""
    if query.numel() == 0 or key.shape[-2] == 0:
        return _reference(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    blind = None
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            blind = ~attn_mask.any(dim=-1, keepdim=True)
            attn_mask = attn_mask | blind
        else:
            blind = torch.isneginf(attn_mask).all(dim=-1, keepdim=True)
            attn_mask = attn_mask.masked_fill(blind, 0.0)
    out = F.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal, scale=scale,
                                         enable_gqa=enable_gqa)
    return out if blind is None else out.masked_fill(blind, 0.0)


def _reference(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa):
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if query.dim() > 2 and key.shape[-3] != query.shape[-3]:
        group = query.shape[-3] // key.shape[-3]
        key, value = key.repeat_interleave(group, dim=-3), value.repeat_interleave(group, dim=-3)
    scores = (query @ key.transpose(-2, -1)) * scale
    if is_causal:
        allowed = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~allowed, -math.inf)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, -math.inf) if attn_mask.dtype == torch.bool else scores + attn_mask
    # Rows that see no key: output 0 and zero gradient (finite scores keep softmax's backward finite).
    blind = torch.isneginf(scores).all(dim=-1, keepdim=True)
    probs = torch.softmax(scores.masked_fill(blind, 0.0), dim=-1).masked_fill(blind, 0.0)
    if dropout_p > 0.0:
        probs = F.dropout(probs, dropout_p)
    return probs @ value


def scaled_dot_product_attention_reference(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                           scale=None, enable_gqa=False) -> torch.Tensor:
    """Pure-PyTorch attention with our semantics: the oracle the kernels are tested against."""
    _check(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa)
    return _reference(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)


def _fake_forward(query, key, value, attn_mask, is_causal, scale):
    b, h, lq, _ = query.shape
    # out is laid out (B, Lq, H, Dv) as the kernels write it, so merging heads is a view
    return query.new_empty(b, lq, h, value.shape[-1]).transpose(1, 2), query.new_empty(b, h, lq, dtype=_lse_dtype(query))


def _lse_dtype(query: torch.Tensor) -> torch.dtype:
    """The logsumexp is kept in the accumulate type: float32 for float16/bfloat16 queries."""
    return torch.float32 if query.dtype in (torch.float16, torch.bfloat16) else query.dtype


def _fake_backward(grad_out, query, key, value, attn_mask, out, lse, is_causal, scale):
    return query.new_empty(query.shape), key.new_empty(key.shape), value.new_empty(value.shape)


@_extension.on_load
def _register() -> None:
    torch.library.register_fake("zoo::attention_forward")(_fake_forward)
    torch.library.register_fake("zoo::attention_backward")(_fake_backward)
