"""Neural Collaborative Filtering, NeuMF variant (He et al. 2017).

A GMF branch (element-wise product of user and item embeddings) beside an MLP
tower over their concatenation, fused by one linear layer into a logit of
"user interacts with item". The MLP's bias + ReLU run in zoo's bias_act kernel.
"""

from typing import Sequence

import torch
from torch import nn

import zoo
from zoo.nn import LinearAct


class NeuMF(nn.Module):
    def __init__(self, num_users: int = 1000, num_items: int = 2000, gmf_dim: int = 16,
                 mlp_dims: Sequence[int] = (64, 32, 16)):
        super().__init__()
        self.user_gmf = nn.Embedding(num_users, gmf_dim)
        self.item_gmf = nn.Embedding(num_items, gmf_dim)
        self.user_mlp = nn.Embedding(num_users, mlp_dims[0] // 2)
        self.item_mlp = nn.Embedding(num_items, mlp_dims[0] // 2)
        dims = list(mlp_dims)
        self.mlp = nn.Sequential(*(LinearAct(a, b) for a, b in zip(dims[:-1], dims[1:])))
        self.head = nn.Linear(gmf_dim + dims[-1], 1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Interaction logits, (batch,)."""
        gmf = self.user_gmf(users) * self.item_gmf(items)
        mlp = self.mlp(torch.cat([self.user_mlp(users), self.item_mlp(items)], dim=-1))
        return self.head(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)


def _pairs(config, batch_size):
    g = torch.Generator().manual_seed(0)
    users = torch.randint(0, config["num_users"], (batch_size,), generator=g)
    items = torch.randint(0, config["num_items"], (batch_size,), generator=g)
    return users, items


NEUMF = zoo.ModelSpec(
    name="neumf",
    builder=NeuMF,
    domain="recsys",
    task="recommendation",
    inputs=_pairs,
    default_config={"num_users": 1000, "num_items": 2000, "gmf_dim": 16, "mlp_dims": (64, 32, 16)},
    paper="https://arxiv.org/abs/1708.05031",
    ops=("bias_act",),
    num_params=146641,
)
