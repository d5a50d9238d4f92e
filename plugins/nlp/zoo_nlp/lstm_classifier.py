"""The seed's text classifier: Embedding -> LSTM -> Dense -> softmax.

The LSTM runs on zoo's fused LSTM kernel (zoo.nn.LSTM, torch.nn.LSTM's
parameter names) and the dense layer's bias + ReLU on zoo's bias_act kernel.
"""

import torch
from torch import nn

import zoo
from zoo.nn import LSTM, Linear, LinearAct


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size: int = 20000, embed_dim: int = 128, hidden_size: int = 128,
                 num_classes: int = 2, padding_idx: int = 0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.lstm = LSTM(embed_dim, hidden_size, batch_first=True)
        self.dense = LinearAct(hidden_size, hidden_size, activation="relu")
        self.head = Linear(hidden_size, num_classes)

    def forward_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """The last hidden state after the dense layer, (batch, hidden_size)."""
        _, (h_n, _) = self.lstm(self.embedding(tokens))
        return self.dense(h_n[-1])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Class logits, (batch, num_classes); `predict_proba` applies the softmax."""
        return self.head(self.forward_features(tokens))

    def predict_proba(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.forward(tokens).softmax(dim=-1)


def _tokens(config, batch_size):
    g = torch.Generator().manual_seed(0)
    return (torch.randint(1, config["vocab_size"], (batch_size, 32), generator=g),)


class TorchLSTMClassifier(LSTMClassifier):
    """The same network on torch.nn.LSTM and torch.nn.Linear (same state_dict keys): the peer."""

    def __init__(self, **config):
        super().__init__(**config)
        self.lstm = nn.LSTM(self.lstm.input_size, self.lstm.hidden_size, batch_first=True)
        self.dense = nn.Sequential(nn.Linear(self.dense.in_features, self.dense.out_features), nn.ReLU())
        self.head = nn.Linear(self.head.in_features, self.head.out_features)


def torch_nn_peer(batch_size: int) -> zoo.PeerRun:
    """lstm_classifier vs the same network on torch.nn.LSTM, same weights, 32-token sequences."""
    spec = zoo.info("lstm_classifier")
    model = spec.build()
    peer = TorchLSTMClassifier(**spec.default_config).eval()
    peer.load_state_dict({k.replace("dense.", "dense.0."): v for k, v in model.state_dict().items()})
    return zoo.PeerRun.forward("torch.nn.LSTM, 32 tokens", model, peer, spec.example_inputs(batch_size), batch_size)


LSTM_CLASSIFIER = zoo.ModelSpec(
    name="lstm_classifier",
    builder=LSTMClassifier,
    domain="nlp",
    task="text-classification",
    inputs=_tokens,
    default_config={"vocab_size": 20000, "embed_dim": 128, "hidden_size": 128, "num_classes": 2, "padding_idx": 0},
    paper="https://www.bioinf.jku.at/publications/older/2604.pdf (Hochreiter & Schmidhuber 1997)",
    ops=("linear", "lstm"),
    num_params=2708866,
    peer=torch_nn_peer,
)
