"""DLRM (Naumov et al. 2019): click-through prediction from dense and categorical features.

Dense features go through the bottom MLP; each categorical field is a bag of ids
summed by its own EmbeddingBag; the dot products of every pair of those vectors
(the "interaction") join the bottom MLP's output in the top MLP, which ends in
one logit. MLP layers run bias + ReLU on zoo's bias_act kernel. Tables are plain
EmbeddingBags on one device: checkpoints need no sharding library.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

import zoo
from zoo.nn import Linear
from zoo_recsys.mlp import mlp


class DLRM(nn.Module):
    def __init__(self, num_dense: int = 13, table_sizes: Sequence[int] = (1000,) * 8, embedding_dim: int = 16,
                 bottom_mlp: Sequence[int] = (64, 16), top_mlp: Sequence[int] = (64, 32)):
        super().__init__()
        if not bottom_mlp or bottom_mlp[-1] != embedding_dim:
            raise ValueError(f"argument 'bottom_mlp' must end in embedding_dim ({embedding_dim}) so its output "
                             f"can be dotted with the embeddings, got {tuple(bottom_mlp)}")
        if not table_sizes or min(table_sizes) < 1:
            raise ValueError(f"argument 'table_sizes' must be positive table sizes, got {tuple(table_sizes)}")
        self.table_sizes = tuple(table_sizes)
        self.bottom = mlp(num_dense, bottom_mlp)
        self.tables = nn.ModuleList(nn.EmbeddingBag(n, embedding_dim, mode="sum") for n in table_sizes)
        vectors = len(table_sizes) + 1
        self.register_buffer("pairs", torch.triu_indices(vectors, vectors, offset=1), persistent=False)
        self.top = mlp(embedding_dim + self.pairs.shape[1], top_mlp)
        self.head = Linear(top_mlp[-1] if top_mlp else embedding_dim + self.pairs.shape[1], 1)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        """Click logits (B,) from dense (B, num_dense) floats and sparse (B, fields) or (B, fields, bag) ids."""
        if sparse.dim() == 2:
            sparse = sparse.unsqueeze(-1)
        if sparse.dim() != 3 or sparse.shape[1] != len(self.tables) or sparse.shape[0] != dense.shape[0]:
            raise ValueError(f"argument 'sparse' must be (B, {len(self.tables)}) or (B, {len(self.tables)}, bag) ids "
                             f"with B = {dense.shape[0]}, got shape {tuple(sparse.shape)}")
        if not torch.compiler.is_compiling():  # checks by value, which a traced graph cannot make
            for field, size in enumerate(self.table_sizes):
                ids = sparse[:, field]
                if ids.numel() and (ids.min() < 0 or ids.max() >= size):
                    raise ValueError(f"argument 'sparse': field {field} holds ids outside 0 .. {size - 1}")
        bottom = self.bottom(dense)
        vectors = torch.stack([bottom] + [table(sparse[:, f]) for f, table in enumerate(self.tables)], dim=1)
        dots = torch.bmm(vectors, vectors.transpose(1, 2))[:, self.pairs[0], self.pairs[1]]
        return self.head(self.top(torch.cat((bottom, dots), dim=1))).squeeze(-1)


def _features(config, batch_size, bag: int = 3):
    g = torch.Generator().manual_seed(0)
    dense = torch.randn(batch_size, config["num_dense"], generator=g)
    sparse = torch.stack([torch.randint(0, n, (batch_size, bag), generator=g) for n in config["table_sizes"]], dim=1)
    return dense, sparse


DLRM_SPEC = zoo.ModelSpec(
    name="dlrm",
    builder=DLRM,
    domain="recsys",
    task="click-through-rate",
    inputs=_features,
    default_config={"num_dense": 13, "table_sizes": (1000,) * 8, "embedding_dim": 16, "bottom_mlp": (64, 16),
                    "top_mlp": (64, 32)},
    paper="https://arxiv.org/abs/1906.00091",
    ops=("linear",),
    num_params=135441,
)
