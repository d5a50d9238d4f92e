"""What the next-item models (SASRec, GRU4Rec) share: right-padded histories and next-item scoring.

A history is a row of item ids, oldest first, padded on the right with
`num_items` (the padding row of the item embedding). Both models are causal, so
the state at a history's last real item has seen only real items, whatever
padding follows: no attention mask or packing is needed.
"""

from __future__ import annotations

import torch

from zoo_recsys.ranking import Recommender


def history_lengths(histories: torch.Tensor, num_items: int) -> torch.Tensor:
    """The number of real items in each right-padded row of `histories` (B, L)."""
    if histories.dim() != 2 or histories.dtype != torch.long:
        raise ValueError(f"argument 'histories' must be a (B, L) long tensor of item ids, got {histories.dtype} "
                         f"of shape {tuple(histories.shape)}")
    if torch.compiler.is_compiling():  # the checks below branch on values, which a traced graph cannot
        return (histories != num_items).sum(1)
    if ((histories < 0) | (histories > num_items)).any():
        raise ValueError(f"argument 'histories' holds ids outside 0 .. {num_items - 1} (and {num_items}, the padding)")
    padding = histories == num_items
    if (padding[:, :-1] & ~padding[:, 1:]).any():
        raise ValueError(f"argument 'histories' must be padded on the right only (with {num_items})")
    lengths = (~padding).sum(1)
    if (lengths == 0).any():
        raise ValueError("argument 'histories' has a row without any item")
    return lengths


class NextItemModel(Recommender):
    """Subclasses define `encode(histories) -> (B, L, dim)` and `item_logits(states) -> (..., num_items)`."""

    num_items: int

    def forward(self, histories: torch.Tensor) -> torch.Tensor:
        """Next-item logits after every position, (B, L, num_items): what a training loss reads."""
        history_lengths(histories, self.num_items)
        return self.item_logits(self.encode(histories))

    def score_all(self, histories: torch.Tensor) -> torch.Tensor:
        """Scores of every item as the next one after each history's last real item, (B, num_items)."""
        lengths = history_lengths(histories, self.num_items)
        states = self.encode(histories)
        return self.item_logits(states[torch.arange(len(lengths)), lengths - 1])

