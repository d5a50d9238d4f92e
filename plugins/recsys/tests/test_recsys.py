"""zoo-recsys: NeuMF against its defining formula."""

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
