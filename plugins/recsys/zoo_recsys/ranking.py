"""Top-k recommendation and its metrics, shared by every retrieval model in the plugin.

Items are ids 0 .. num_items - 1. Lists of items per user (seen items, held-out
relevant items) are long tensors (B, S) padded with any id outside that range
(-1, or num_items as the sequence models pad), so ragged histories need no
Python lists. Recall@k is hits / number of relevant items; NDCG@k uses binary
relevance and the ideal ordering of min(k, relevant) hits; both average over
users with at least one relevant item, as RecBole and most papers report them.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _membership(items: torch.Tensor, num_items: int, name: str) -> torch.Tensor:
    """A padded (B, S) id list as a bool (B, num_items) mask; ids outside 0 .. num_items - 1 are padding."""
    if items.dtype == torch.bool:
        if items.shape[-1] != num_items:
            raise ValueError(f"argument '{name}' as a mask must have {num_items} columns, got {items.shape[-1]}")
        return items
    if items.dim() != 2 or items.is_floating_point():
        raise ValueError(f"argument '{name}' must be a (B, S) long tensor of item ids or a (B, num_items) bool "
                         f"mask, got {items.dtype} of shape {tuple(items.shape)}")
    valid = (items >= 0) & (items < num_items)
    mask = torch.zeros(items.shape[0], num_items + 1, dtype=torch.bool, device=items.device)
    mask.scatter_(1, torch.where(valid, items, num_items), True)  # padding lands in the spare column
    return mask[:, :num_items]


def top_k(scores: torch.Tensor, k: int, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """The k best-scoring item ids per row of `scores` (B, num_items), best first, never an excluded one."""
    if scores.dim() != 2:
        raise ValueError(f"argument 'scores' must be (B, num_items), got shape {tuple(scores.shape)}")
    num_items = scores.shape[1]
    if not 1 <= k <= num_items:
        raise ValueError(f"argument 'k' must be in 1 .. {num_items} (the number of items), got {k}")
    if exclude is not None:
        if exclude.shape[0] != scores.shape[0]:
            raise ValueError(f"argument 'exclude' must have one row per row of scores ({scores.shape[0]}), "
                             f"got {exclude.shape[0]}")
        scores = scores.masked_fill(_membership(exclude, num_items, "exclude"), float("-inf"))
    return scores.topk(k, dim=1).indices


def _hits(ranked: torch.Tensor, relevant: torch.Tensor, num_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(hit at each rank (B, k), number of relevant items per user (B,))."""
    mask = _membership(relevant, num_items, "relevant")
    return mask.gather(1, ranked), mask.sum(1)


def recall_at_k(ranked: torch.Tensor, relevant: torch.Tensor, num_items: int) -> float:
    """Mean over users with relevant items of (relevant items among `ranked` (B, k)) / (relevant items)."""
    hits, count = _hits(ranked, relevant, num_items)
    users = count > 0
    return (hits.sum(1)[users] / count[users]).mean().item()


def ndcg_at_k(ranked: torch.Tensor, relevant: torch.Tensor, num_items: int) -> float:
    """Mean normalised discounted cumulative gain of `ranked` (B, k), binary relevance."""
    hits, count = _hits(ranked, relevant, num_items)
    k = ranked.shape[1]
    discounts = torch.tensor([1 / math.log2(rank + 2) for rank in range(k)], dtype=torch.float64)
    dcg = (hits.double() * discounts).sum(1)
    ideal = discounts.cumsum(0)[(count.clamp(max=k) - 1).clamp(min=0)]
    users = count > 0
    return (dcg[users] / ideal[users]).mean().item()


def popularity_scores(interactions: torch.Tensor, num_items: int) -> torch.Tensor:
    """How often each item occurs in `interactions` (any shape, padding ignored): the baseline to beat."""
    ids = interactions.flatten()
    return torch.bincount(ids[(ids >= 0) & (ids < num_items)], minlength=num_items).double()


class Recommender(nn.Module):
    """A model with `score_all(*inputs) -> (B, num_items)` gets `recommend`."""

    @torch.no_grad()
    def recommend(self, *inputs: torch.Tensor, k: int = 10, exclude: torch.Tensor | None = None) -> torch.Tensor:
        """The top-k item ids (B, k) per user, best first, skipping `exclude` (e.g. the items already seen)."""
        return top_k(self.score_all(*inputs), k, exclude)
