"""SASRec (Kang & McAuley 2018): next-item recommendation by causal self-attention over a history.

Item embeddings (scaled by sqrt(dim)) plus learned positions go through pre-norm
transformer blocks whose attention runs on zoo's fused attention kernel
(causal) and whose feed-forward bias + ReLU run on zoo's bias_act. Scores are
dot products with the same item embeddings (tied, as in the paper).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

import zoo
from zoo.nn import Attention, Linear, LinearAct
from zoo_recsys.examples import example_histories
from zoo_recsys.recipe import train_next_item
from zoo_recsys.sequential import NextItemModel


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, causal=True, dropout=dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(LinearAct(dim, dim), nn.Dropout(dropout), Linear(dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.ffn(self.norm2(x)))


class SASRec(NextItemModel):
    def __init__(self, num_items: int = 1000, dim: int = 64, num_blocks: int = 2, num_heads: int = 1,
                 max_len: int = 50, dropout: float = 0.2):
        super().__init__()
        self.num_items, self.max_len = num_items, max_len
        self.items = nn.Embedding(num_items + 1, dim, padding_idx=num_items)
        self.positions = nn.Embedding(max_len, dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(dim, num_heads, dropout) for _ in range(num_blocks)])
        self.norm = nn.LayerNorm(dim)
        # Unit-size rows after the sqrt(dim) scale; nn.Embedding's N(0, 1) would make the tied logits huge.
        nn.init.normal_(self.items.weight, std=dim**-0.5)
        with torch.no_grad():
            self.items.weight[num_items].zero_()

    def encode(self, histories: torch.Tensor) -> torch.Tensor:
        if histories.shape[1] > self.max_len:
            raise ValueError(f"argument 'histories' is longer ({histories.shape[1]}) than max_len {self.max_len}; "
                             f"keep the most recent items")
        x = self.items(histories) * math.sqrt(self.items.embedding_dim)
        x = x + self.positions(torch.arange(histories.shape[1], device=histories.device))
        return self.norm(self.blocks(self.drop(x)))

    def item_logits(self, states: torch.Tensor) -> torch.Tensor:
        return states @ self.items.weight[: self.num_items].T


SASREC = zoo.ModelSpec(
    name="sasrec",
    builder=SASRec,
    domain="recsys",
    task="sequential-recommendation",
    inputs=example_histories,
    default_config={"num_items": 1000, "dim": 64, "num_blocks": 2, "num_heads": 1, "max_len": 50, "dropout": 0.2},
    paper="https://arxiv.org/abs/1808.09781",
    ops=("attention", "linear"),
    num_params=117824,
    train=functools.partial(train_next_item, "sasrec"),
)
