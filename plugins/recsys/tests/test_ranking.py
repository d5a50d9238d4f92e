"""Top-k and the ranking metrics on hand-computed cases; every retrieval model's recommend() against its
own pairwise scores."""

import math

import pytest
import torch

import zoo
from zoo_recsys.ranking import ndcg_at_k, popularity_scores, recall_at_k, top_k


def test_metrics_on_a_hand_computed_case():
    ranked = torch.tensor([[3, 1, 2], [0, 4, 5], [7, 8, 9]])
    relevant = torch.tensor([[1, 2, -1], [9, -1, -1], [-1, -1, -1]])  # the third user has none: not averaged
    assert recall_at_k(ranked, relevant, num_items=10) == pytest.approx((2 / 2 + 0) / 2)
    first = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))  # hits at ranks 2, 3; ideal 1, 2
    assert ndcg_at_k(ranked, relevant, num_items=10) == pytest.approx((first + 0) / 2)
    perfect = torch.tensor([[5, 6, 0]])
    assert ndcg_at_k(perfect, torch.tensor([[6, 5, 11]]), num_items=10) == pytest.approx(1.0)
    assert ndcg_at_k(perfect, torch.tensor([[6, 5, 0, 2]]), num_items=10) == pytest.approx(1.0)  # > k relevant


def test_top_k_skips_excluded_items_and_keeps_score_order():
    scores = torch.randn(4, 30, generator=torch.Generator().manual_seed(0))
    seen = torch.tensor([[0, 1, 2, 30], [5, 5, -1, -1], [29, 28, 27, 26], [-1, -1, -1, -1]])
    ranked = top_k(scores, 5, exclude=seen)
    for row, items in enumerate(ranked.tolist()):
        allowed = [i for i in range(30) if i not in seen[row].tolist()]
        assert items == sorted(allowed, key=lambda i: -scores[row, i].item())[:5]
    mask = torch.zeros(4, 30, dtype=torch.bool)
    mask[:, :25] = True
    assert (top_k(scores, 5, exclude=mask) >= 25).all()


def test_popularity_counts_ignore_padding():
    assert popularity_scores(torch.tensor([[1, 1, 3], [3, 1, 5]]), num_items=5).tolist() == [0, 3, 0, 2, 0]


def test_bad_arguments_are_named():
    scores = torch.zeros(2, 10)
    with pytest.raises(ValueError, match="argument 'k'"):
        top_k(scores, 11)
    with pytest.raises(ValueError, match="argument 'exclude'"):
        top_k(scores, 3, exclude=torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="argument 'exclude'"):
        top_k(scores, 3, exclude=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="argument 'scores'"):
        top_k(torch.zeros(10), 3)


SMALL = {"neumf": {"num_users": 7, "num_items": 40}, "two_tower": {"num_users": 7, "num_items": 40},
         "sasrec": {"num_items": 40}, "gru4rec": {"num_items": 40}}


def _users_or_histories(name):
    if name in ("neumf", "two_tower"):
        return torch.tensor([0, 3, 6])
    return torch.tensor([[1, 2, 3, 40, 40], [7, 7, 39, 0, 5], [11, 40, 40, 40, 40]])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_recommend_ranks_the_models_own_pairwise_scores_without_seen_items(name):
    torch.manual_seed(0)
    model = zoo.load(name, **SMALL[name])
    inputs = _users_or_histories(name)
    seen = torch.tensor([[1, 2, 3], [0, 5, 7], [11, -1, -1]])
    with torch.no_grad():
        if inputs.dim() == 1:  # score_all(u)[i] must be forward(u, i)
            expected = torch.stack([model(u.expand(40), torch.arange(40)) for u in inputs])
        else:  # ... and the next-item logits after each history's last real item
            logits, lengths = model(inputs), (inputs != 40).sum(1)
            expected = logits[torch.arange(3), lengths - 1]
        torch.testing.assert_close(model.score_all(inputs), expected, atol=1e-5, rtol=1e-5)
    ranked = model.recommend(inputs, k=10, exclude=seen)
    assert ranked.shape == (3, 10)
    assert not any(set(r) & set(s) for r, s in zip(ranked.tolist(), seen.tolist()))
    torch.testing.assert_close(ranked, top_k(expected, 10, exclude=seen))
