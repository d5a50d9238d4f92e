"""GRU4Rec (Hidasi et al. 2016): session-based next-item recommendation with a GRU.

Item embeddings feed a GRU on zoo's fused GRU kernel; a linear layer scores
every item from the hidden state (GRU4Rec's output layer, trained with full
softmax cross-entropy, the variant its authors later found strongest).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

import zoo
from zoo.nn import GRU, Linear
from zoo_recsys.examples import example_histories
from zoo_recsys.recipe import train_next_item
from zoo_recsys.sequential import NextItemModel


class GRU4Rec(NextItemModel):
    def __init__(self, num_items: int = 1000, embedding_dim: int = 64, hidden_size: int = 100, num_layers: int = 1,
                 dropout: float = 0.0):
        super().__init__()
        self.num_items = num_items
        self.items = nn.Embedding(num_items + 1, embedding_dim, padding_idx=num_items)
        self.gru = GRU(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True, dropout=dropout)
        self.drop = nn.Dropout(dropout)
        self.output = Linear(hidden_size, num_items)

    def encode(self, histories: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(self.drop(self.items(histories)))
        return self.drop(states)

    def item_logits(self, states: torch.Tensor) -> torch.Tensor:
        return self.output(states)


GRU4REC = zoo.ModelSpec(
    name="gru4rec",
    builder=GRU4Rec,
    domain="recsys",
    task="sequential-recommendation",
    inputs=example_histories,
    default_config={"num_items": 1000, "embedding_dim": 64, "hidden_size": 100, "num_layers": 1, "dropout": 0.0},
    paper="https://arxiv.org/abs/1511.06939",
    ops=("gru", "linear"),
    num_params=214864,
    train=functools.partial(train_next_item, "gru4rec"),
)
