"""Token generation (GPT-2, and T5's decoder): greedy, top-k and top-p sampling, with or without a KV cache.

A model plugs in with `step(input_ids, attention_mask, caches) -> next-token logits (B, V)`
where `caches` is None (recompute the whole prefix) or the model's per-layer
KV caches (feed only the tokens the caches have not seen). Finished rows (after
`eos_token_id`) keep emitting `pad_token_id`, as Hugging Face's generate does.
"""

from __future__ import annotations

import torch


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Logits with everything outside the k most likely tokens and outside the smallest set whose
    probability reaches top_p set to -inf (the most likely token always stays)."""
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"argument 'top_k' must be a positive int, got {top_k}")
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        if not 0 < top_p <= 1:
            raise ValueError(f"argument 'top_p' must be in (0, 1], got {top_p}")
        ordered, order = logits.sort(dim=-1, descending=True)
        before = ordered.softmax(-1).cumsum(-1) - ordered.softmax(-1)  # probability of the tokens ranked above
        drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, before >= top_p)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@torch.no_grad()
def generate(model, input_ids: torch.Tensor, max_new_tokens: int, *, attention_mask: torch.Tensor | None = None,
             do_sample: bool = False, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             eos_token_id: int | None = None, pad_token_id: int | None = None, use_cache: bool = True,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """input_ids (B, L) followed by up to max_new_tokens generated tokens, (B, L + new)."""
    if input_ids.dim() != 2 or input_ids.shape[1] == 0:
        raise ValueError(f"argument 'input_ids' must be (B, L) with L >= 1, got shape {tuple(input_ids.shape)}")
    if max_new_tokens < 0:
        raise ValueError(f"argument 'max_new_tokens' must be >= 0, got {max_new_tokens}")
    if temperature <= 0:
        raise ValueError(f"argument 'temperature' must be positive, got {temperature}")
    pad_token_id = eos_token_id if pad_token_id is None else pad_token_id
    mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask.to(input_ids.dtype)
    caches = model.new_caches() if use_cache else None
    tokens, fed, finished = input_ids, 0, torch.zeros(len(input_ids), dtype=torch.bool, device=input_ids.device)
    for _ in range(max_new_tokens):
        logits = model.step(tokens[:, fed:] if use_cache else tokens, mask, caches)
        fed = tokens.shape[1]
        if do_sample:
            probs = filter_logits(logits / temperature, top_k, top_p).softmax(-1)
            next_token = torch.multinomial(probs, 1, generator=generator)[:, 0]
        else:
            next_token = logits.argmax(-1)
        if eos_token_id is not None:
            next_token = torch.where(finished, pad_token_id, next_token)
            finished |= next_token == eos_token_id
        tokens = torch.cat((tokens, next_token[:, None]), dim=1)
        mask = torch.cat((mask, torch.ones_like(mask[:, :1])), dim=1)
        if finished.all():
            break
    return tokens
