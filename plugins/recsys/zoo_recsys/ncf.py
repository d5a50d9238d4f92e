"""Neural Collaborative Filtering, NeuMF variant (He et al. 2017).

A GMF branch (element-wise product of user and item embeddings) beside an MLP
tower over their concatenation, fused by one linear layer into a logit of
"user interacts with item". The MLP's bias + ReLU run in zoo's bias_act kernel.
"""

from typing import Sequence

import torch
from torch import nn

import zoo
from zoo.nn import Linear
from zoo_recsys.examples import user_item_pairs
from zoo_recsys.mlp import mlp
from zoo_recsys.ranking import Recommender


class NeuMF(Recommender):
    def __init__(self, num_users: int = 1000, num_items: int = 2000, gmf_dim: int = 16,
                 mlp_dims: Sequence[int] = (64, 32, 16)):
        super().__init__()
        self.num_items = num_items
        self.user_gmf = nn.Embedding(num_users, gmf_dim)
        self.item_gmf = nn.Embedding(num_items, gmf_dim)
        self.user_mlp = nn.Embedding(num_users, mlp_dims[0] // 2)
        self.item_mlp = nn.Embedding(num_items, mlp_dims[0] // 2)
        self.mlp = mlp(mlp_dims[0], mlp_dims[1:])
        self.head = Linear(gmf_dim + mlp_dims[-1], 1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Interaction logits, (batch,)."""
        gmf = self.user_gmf(users) * self.item_gmf(items)
        tower = self.mlp(torch.cat([self.user_mlp(users), self.item_mlp(items)], dim=-1))
        return self.head(torch.cat([gmf, tower], dim=-1)).squeeze(-1)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """(B, num_items) logits of each user with every item."""
        items = torch.arange(self.num_items, device=users.device)
        return self(users.repeat_interleave(self.num_items), items.repeat(len(users))).view(len(users), -1)


NEUMF = zoo.ModelSpec(
    name="neumf",
    builder=NeuMF,
    domain="recsys",
    task="recommendation",
    inputs=user_item_pairs,
    default_config={"num_users": 1000, "num_items": 2000, "gmf_dim": 16, "mlp_dims": (64, 32, 16)},
    paper="https://arxiv.org/abs/1708.05031",
    ops=("linear",),
    num_params=146641,
)
