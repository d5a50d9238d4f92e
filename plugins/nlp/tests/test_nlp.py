"""zoo-nlp: the LSTM text classifier against the same computation written with torch.nn."""

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.ops import backend


@pytest.mark.parametrize("mode", ["ext", "torch"])
def test_lstm_classifier_matches_plain_torch(mode):
    model = zoo.load("lstm_classifier", vocab_size=50, embed_dim=8, hidden_size=6, num_classes=3)
    tokens = torch.randint(1, 50, (4, 9))
    _, (h_n, _) = model.lstm(model.embedding(tokens))
    hidden = F.relu(F.linear(h_n[-1], model.dense.weight, model.dense.bias))
    expected = F.linear(hidden, model.head.weight, model.head.bias)
    with torch.no_grad(), backend(mode):
        torch.testing.assert_close(model(tokens), expected, atol=1e-6, rtol=1e-5)
        probs = model.predict_proba(tokens)
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))


def test_bench_peer_is_the_same_network_on_torch_nn():
    run = zoo.info("lstm_classifier").peer(2)
    assert run.label.startswith("torch.nn.LSTM") and run.units == 2
    torch.testing.assert_close(run.ours(), run.theirs(), atol=1e-5, rtol=1e-5)
