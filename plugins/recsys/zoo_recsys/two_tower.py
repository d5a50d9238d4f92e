"""A two-tower retrieval model (Yi et al. 2019, YouTube's sampling-bias-corrected retrieval).

A user tower and an item tower (id embedding -> MLP on zoo's bias_act) map to
L2-normalised vectors; a pair's logit is their cosine over a temperature. Items
are encoded independently of users, so scoring every item is one matrix product
(and the item vectors can be cached in an index). `in_batch_loss` is the usual
training objective: softmax over the other items of the batch as negatives.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo_recsys.examples import user_item_pairs
from zoo_recsys.mlp import mlp
from zoo_recsys.ranking import Recommender


class Tower(nn.Module):
    def __init__(self, count: int, embedding_dim: int, widths: Sequence[int]):
        super().__init__()
        self.embedding = nn.Embedding(count, embedding_dim)
        self.mlp = mlp(embedding_dim, widths, last_activation=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(self.embedding(ids)), dim=-1)


class TwoTower(Recommender):
    def __init__(self, num_users: int = 1000, num_items: int = 2000, embedding_dim: int = 64,
                 tower: Sequence[int] = (128, 64), temperature: float = 0.05):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"argument 'temperature' must be positive, got {temperature}")
        self.num_items, self.temperature = num_items, temperature
        self.user_tower = Tower(num_users, embedding_dim, tower)
        self.item_tower = Tower(num_items, embedding_dim, tower)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits (B,) of each user with the item beside it."""
        return (self.user_tower(users) * self.item_tower(items)).sum(-1) / self.temperature

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """(B, num_items) logits of each user with every item."""
        items = self.item_tower(torch.arange(self.num_items, device=users.device))
        return self.user_tower(users) @ items.T / self.temperature

    def in_batch_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of each user's own item against the batch's other items."""
        logits = self.user_tower(users) @ self.item_tower(items).T / self.temperature
        return F.cross_entropy(logits, torch.arange(len(users), device=users.device))


TWO_TOWER = zoo.ModelSpec(
    name="two_tower",
    builder=TwoTower,
    domain="recsys",
    task="retrieval",
    inputs=user_item_pairs,
    default_config={"num_users": 1000, "num_items": 2000, "embedding_dim": 64, "tower": (128, 64),
                    "temperature": 0.05},
    paper="https://research.google/pubs/sampling-bias-corrected-neural-modeling-for-large-corpus-item-recommendations/",
    ops=("linear",),
    num_params=225152,
)
