"""The recsys models against their defining formulas, and the sequence models' padding contract."""

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.ops import backend


def test_neumf_matches_its_formula():
    model = zoo.load("neumf", num_users=20, num_items=30, gmf_dim=4, mlp_dims=(8, 4))
    users, items = torch.tensor([0, 5, 19]), torch.tensor([29, 1, 7])
    gmf = model.user_gmf(users) * model.item_gmf(items)
    layer = model.mlp[0]
    mlp = F.relu(F.linear(torch.cat([model.user_mlp(users), model.item_mlp(items)], -1), layer.weight, layer.bias))
    expected = F.linear(torch.cat([gmf, mlp], -1), model.head.weight, model.head.bias).squeeze(-1)
    with torch.no_grad(), backend("ext"):
        torch.testing.assert_close(model(users, items), expected)


def test_dlrm_matches_its_formula_in_float64():
    model = zoo.load("dlrm", num_dense=3, table_sizes=(5, 7), embedding_dim=4, bottom_mlp=(6, 4), top_mlp=(8,))
    model = model.double()
    dense = torch.randn(2, 3, dtype=torch.float64)
    sparse = torch.tensor([[[0, 4], [6, 6]], [[2, 2], [1, 0]]])

    def relu_linear(x, layer):
        return F.relu(x @ layer.weight.T + layer.bias)

    bottom = relu_linear(relu_linear(dense, model.bottom[0]), model.bottom[1])
    vectors = [bottom] + [table.weight[sparse[:, f]].sum(1) for f, table in enumerate(model.tables)]
    dots = [(vectors[i] * vectors[j]).sum(-1) for i in range(3) for j in range(i + 1, 3)]
    top = relu_linear(torch.cat([bottom, torch.stack(dots, 1)], 1), model.top[0])
    expected = (top @ model.head.weight.T + model.head.bias).squeeze(-1)
    with torch.no_grad(), backend("ext"):
        torch.testing.assert_close(model(dense, sparse), expected)
        torch.testing.assert_close(model(dense, sparse[:, :, 0]), model(dense, sparse[:, :, :1]))  # single-hot
    with pytest.raises(ValueError, match="field 1 holds ids outside 0 .. 6"):
        model(dense, torch.tensor([[0, 7], [0, 0]]))
    with pytest.raises(ValueError, match="argument 'sparse'"):
        model(dense, torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="argument 'bottom_mlp'"):
        zoo.load("dlrm", embedding_dim=8)


def test_two_tower_in_batch_loss_is_softmax_over_the_batch_items():
    model = zoo.load("two_tower", num_users=9, num_items=12)
    users, items = torch.tensor([0, 4, 8]), torch.tensor([11, 3, 5])
    with torch.no_grad():
        logits = model.score_all(users)[:, items]
        torch.testing.assert_close(model.in_batch_loss(users, items), F.cross_entropy(logits, torch.arange(3)))
        torch.testing.assert_close(model(users, items), logits.diagonal())
        assert model.score_all(users).abs().max() <= 1 / model.temperature + 1e-4  # cosine / temperature


@pytest.mark.parametrize("name", ["sasrec", "gru4rec"])
def test_next_item_scores_ignore_trailing_padding(name):
    """Causal models: the scores after a history do not depend on how much padding follows it."""
    model = zoo.load(name, num_items=30)
    short = torch.tensor([[4, 8, 15, 16], [23, 42 % 30, 30, 30]])
    longer = torch.cat([short, torch.full((2, 6), 30)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model.score_all(short), model.score_all(longer), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["sasrec", "gru4rec"])
def test_bad_histories_are_named(name):
    model = zoo.load(name, num_items=30)
    for bad, message in [(torch.tensor([[30, 1, 2]]), "padded on the right only"),
                         (torch.tensor([[1, 31, 2]]), "ids outside"),
                         (torch.tensor([[30, 30]]), "without any item"),
                         (torch.tensor([[1.0, 2.0]]), "long tensor")]:
        with pytest.raises(ValueError, match=message):
            model.score_all(bad)
    if name == "sasrec":
        with pytest.raises(ValueError, match="max_len"):
            model(torch.zeros(1, 51, dtype=torch.long))
