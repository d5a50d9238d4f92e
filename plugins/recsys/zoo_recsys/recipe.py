"""Training recipes for the next-item models (`zoo train sasrec`, `zoo train gru4rec`) on planted data.

The data has a structure to find and a popularity signal to tempt: each user
walks through one cluster of items in order (item i, then i + 1, wrapping
within the cluster), and with probability `noise` clicks an item drawn from a
skewed (Zipf) global popularity instead. Training is leave-last-out: every
next item but the last is a training target; the last one is the test. A model
that learns the walks ranks the held-out item near the top; ranking by
popularity, the baseline, cannot, and both are reported on the same users.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.registry import recipe_length
from zoo_recsys.ranking import ndcg_at_k, popularity_scores, recall_at_k, top_k

NUM_ITEMS, NUM_CLUSTERS, NUM_USERS, LENGTH, NOISE = 500, 10, 2000, 20, 0.1
EPOCHS, BATCH_SIZE, K = 15, 128, 10


def planted_histories(num_users: int = NUM_USERS, num_items: int = NUM_ITEMS, num_clusters: int = NUM_CLUSTERS,
                      length: int = LENGTH, noise: float = NOISE, seed: int = 0) -> torch.Tensor:
    """(num_users, length) item ids: in-cluster walks with `noise` of popularity-drawn clicks."""
    g = torch.Generator().manual_seed(seed)
    size = num_items // num_clusters
    cluster = torch.randint(0, num_clusters, (num_users, 1), generator=g)
    start = torch.randint(0, size, (num_users, 1), generator=g)
    walks = cluster * size + (start + torch.arange(length)) % size
    popularity = 1.0 / torch.arange(1, num_items + 1, dtype=torch.float64)[torch.randperm(num_items, generator=g)]
    popular = torch.multinomial(popularity, num_users * length, replacement=True, generator=g).view(num_users, length)
    return torch.where(torch.rand(num_users, length, generator=g) < noise, popular, walks)


def evaluate(ranked: torch.Tensor, held_out: torch.Tensor, prefix: str) -> dict[str, float]:
    relevant = held_out[:, None]
    return {f"{prefix}recall@{K}": recall_at_k(ranked, relevant, NUM_ITEMS),
            f"{prefix}ndcg@{K}": ndcg_at_k(ranked, relevant, NUM_ITEMS)}


def train_next_item(name: str, epochs: int | None = None, seed: int = 0,
                    log: Callable[[str], None] = print) -> tuple[nn.Module, dict[str, float]]:
    """Adam, full-softmax cross-entropy on every position; Recall@10 and NDCG@10 against popularity."""
    epochs = recipe_length(epochs, EPOCHS)
    histories = planted_histories()
    inputs, targets = histories[:, :-2], histories[:, 1:-1]  # the last item is held out
    test_inputs, held_out = histories[:, :-1], histories[:, -1]
    torch.manual_seed(seed)
    model = zoo.load(name, num_items=NUM_ITEMS)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for batch in torch.randperm(len(inputs)).split(BATCH_SIZE):
            loss = F.cross_entropy(model(inputs[batch]).flatten(0, 1), targets[batch].flatten())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        model.eval()
        metrics = evaluate(model.recommend(test_inputs, k=K, exclude=test_inputs), held_out, "")
        log(f"epoch {epoch + 1}/{epochs}: train loss {total / len(inputs):.4f}, "
            + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    popular = popularity_scores(inputs, NUM_ITEMS).expand(len(test_inputs), -1)
    metrics |= evaluate(top_k(popular, K, exclude=test_inputs), held_out, "popularity_")
    return model, {**metrics, "seconds": time.perf_counter() - start}
