"""BERT (Devlin et al. 2018): bidirectional post-norm transformer encoder with a masked-LM or a
sequence-classification head.

Self-attention runs on zoo's fused attention kernel (padding keys masked), the
feed-forward bias + GELU on zoo's bias_act. `head="mlm"` gives token logits with
the decoder tied to the word embeddings; `head="classification"` gives
tanh-pooled [CLS] logits. Hugging Face checkpoints (BertForMaskedLM,
BertForPreTraining, BertForSequenceClassification directories) load with
`zoo.load("bert-base-uncased", weights=DIR)`: config.json picks the size and
head, `hf_bert_to_zoo` fuses query/key/value into one projection and renames.
"""

from __future__ import annotations

import torch
from torch import nn

import zoo
from zoo.nn import Attention, Linear, LinearAct
from zoo.ops import linear
from zoo_nlp.examples import random_tokens, transformers_twin

HEADS = ("mlm", "classification")


class Embeddings(nn.Module):
    def __init__(self, vocab_size: int, dim: int, max_positions: int, type_vocab_size: int, eps: float,
                 dropout: float):
        super().__init__()
        self.word = nn.Embedding(vocab_size, dim)
        self.position = nn.Embedding(max_positions, dim)
        self.token_type = nn.Embedding(type_vocab_size, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        return self.drop(self.norm(self.word(input_ids) + self.position(positions) + self.token_type(token_type_ids)))


class Layer(nn.Module):
    """x = norm(x + attention(x)); x = norm(x + feed_forward(x))."""

    def __init__(self, dim: int, num_heads: int, intermediate: int, eps: float, dropout: float):
        super().__init__()
        self.attn = Attention(dim, num_heads, dropout=dropout)
        self.attn_norm = nn.LayerNorm(dim, eps=eps)
        self.ffn_up = LinearAct(dim, intermediate, activation="gelu")
        self.ffn_down = Linear(intermediate, dim)
        self.ffn_norm = nn.LayerNorm(dim, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = self.attn_norm(x + self.drop(self.attn(x, attn_mask=mask)))
        return self.ffn_norm(x + self.drop(self.ffn_down(self.ffn_up(x))))


class BERT(nn.Module):
    def __init__(self, vocab_size: int = 30522, hidden_size: int = 768, num_layers: int = 12, num_heads: int = 12,
                 intermediate_size: int = 3072, max_positions: int = 512, type_vocab_size: int = 2,
                 layer_norm_eps: float = 1e-12, dropout: float = 0.1, head: str = "mlm", num_labels: int = 2):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"argument 'head' must be one of {', '.join(map(repr, HEADS))}, got {head!r}")
        self.head, self.max_positions = head, max_positions
        self.embeddings = Embeddings(vocab_size, hidden_size, max_positions, type_vocab_size, layer_norm_eps, dropout)
        self.layers = nn.ModuleList(Layer(hidden_size, num_heads, intermediate_size, layer_norm_eps, dropout)
                                    for _ in range(num_layers))
        if head == "mlm":
            self.mlm_transform = LinearAct(hidden_size, hidden_size, activation="gelu")
            self.mlm_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
            self.mlm_bias = nn.Parameter(torch.zeros(vocab_size))
        else:
            self.pooler = Linear(hidden_size, hidden_size)
            self.drop = nn.Dropout(dropout)
            self.classifier = Linear(hidden_size, num_labels)
        for m in self.modules():  # BERT's initialisation
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Every token's final hidden state (B, L, hidden). attention_mask: 1 for tokens, 0 for padding."""
        if input_ids.dim() != 2 or input_ids.shape[1] > self.max_positions:
            raise ValueError(f"argument 'input_ids' must be (B, L) with L <= {self.max_positions}, "
                             f"got shape {tuple(input_ids.shape)}")
        for name, extra in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
            if extra is not None and extra.shape != input_ids.shape:
                raise ValueError(f"argument '{name}' must have the shape of input_ids {tuple(input_ids.shape)}, "
                                 f"got {tuple(extra.shape)}")
        token_type_ids = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        x = self.embeddings(input_ids, token_type_ids)
        for layer in self.layers:
            x = layer(x, mask)
        return x

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """mlm: token logits (B, L, vocab); classification: (B, num_labels)."""
        x = self.encode(input_ids, attention_mask, token_type_ids)
        if self.head == "mlm":
            return linear(self.mlm_norm(self.mlm_transform(x)), self.embeddings.word.weight, self.mlm_bias)
        return self.classifier(self.drop(torch.tanh(self.pooler(x[:, 0]))))


def hf_config(config: dict) -> dict:
    """A Hugging Face BertConfig (config.json) as our config; the head follows `architectures`."""
    if config.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"BERT config: hidden_act {config['hidden_act']!r} is not supported (BERT's erf GELU is)")
    classification = any("SequenceClassification" in a for a in config.get("architectures") or [])
    ours = {"vocab_size": config["vocab_size"], "hidden_size": config["hidden_size"],
            "num_layers": config["num_hidden_layers"], "num_heads": config["num_attention_heads"],
            "intermediate_size": config["intermediate_size"], "max_positions": config["max_position_embeddings"],
            "type_vocab_size": config["type_vocab_size"], "layer_norm_eps": config.get("layer_norm_eps", 1e-12),
            "head": "classification" if classification else "mlm"}
    if classification:
        ours["num_labels"] = len(config["id2label"]) if "id2label" in config else config.get("num_labels", 2)
    return ours


_RENAMES = [("embeddings.word_embeddings.", "embeddings.word."), ("embeddings.position_embeddings.",
            "embeddings.position."), ("embeddings.token_type_embeddings.", "embeddings.token_type."),
            ("embeddings.LayerNorm.", "embeddings.norm."), ("encoder.layer.", "layers."),
            (".attention.output.dense.", ".attn.proj."), (".attention.output.LayerNorm.", ".attn_norm."),
            (".intermediate.dense.", ".ffn_up."), (".output.dense.", ".ffn_down."),
            (".output.LayerNorm.", ".ffn_norm."), ("pooler.dense.", "pooler."),
            ("cls.predictions.transform.dense.", "mlm_transform."),
            ("cls.predictions.transform.LayerNorm.", "mlm_norm."), ("cls.predictions.bias", "mlm_bias")]


def hf_bert_to_zoo(state: dict) -> dict:
    """HF BERT names -> ours: query/key/value fused into attn.qkv, the tied decoder, the NSP head and (with an
    MLM head) the pooler dropped."""
    if not any(k.startswith(("bert.", "encoder.", "cls.")) for k in state):
        return state  # ours already
    mlm = any(k.startswith("cls.predictions.") for k in state)
    renamed, qkv = {}, {}
    for key, value in state.items():
        key = key.removeprefix("bert.")
        if key.startswith(("cls.predictions.decoder.", "cls.seq_relationship.")) or key.endswith("position_ids"):
            continue
        if mlm and key.startswith("pooler."):
            continue
        if ".attention.self." in key:
            layer, _, rest = key.partition(".attention.self.")
            part, kind = rest.split(".")
            qkv.setdefault((layer.replace("encoder.layer.", "layers."), kind), {})[part] = value
            continue
        for old, new in _RENAMES:
            key = key.replace(old, new)
        renamed[key] = value
    for (layer, kind), parts in qkv.items():
        renamed[f"{layer}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]])
    return renamed


PEER_LENGTH = 128


def transformers_peer(batch_size: int) -> zoo.PeerRun:
    """bert-base-uncased vs transformers' BertForMaskedLM, same weights: masked-LM logits for a batch of
    128-token sequences, the last quarter of every other one padding."""
    model, peer = transformers_twin("bert-base-uncased", "BertForMaskedLM")
    ids = torch.randint(0, 30522, (batch_size, PEER_LENGTH), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[::2, 3 * PEER_LENGTH // 4:] = 0

    def ours():
        with torch.no_grad():
            return model(ids, mask)

    def theirs():
        with torch.no_grad():
            return peer(input_ids=ids, attention_mask=mask).logits

    valid = mask.bool()
    torch.testing.assert_close(ours()[valid], theirs()[valid], atol=1e-3, rtol=1e-3)
    return zoo.PeerRun("transformers, masked-LM logits, 128 tokens", ours, theirs, batch_size, "samples/s")


def _spec(name: str, hidden: int, layers: int, heads: int, num_params: int, peer=None, **extra) -> zoo.ModelSpec:
    config = {"vocab_size": 30522, "hidden_size": hidden, "num_layers": layers, "num_heads": heads,
              "intermediate_size": 4 * hidden, "max_positions": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
              "dropout": 0.1, "head": "mlm", "num_labels": 2, **extra}
    return zoo.ModelSpec(
        name=name,
        builder=BERT,
        domain="nlp",
        task="fill-mask",
        inputs=random_tokens,
        default_config=config,
        paper="https://arxiv.org/abs/1810.04805",
        ops=("attention", "linear"),
        num_params=num_params,
        convert=hf_bert_to_zoo,
        convert_config=hf_config,
        peer=peer,
    )


BERTS = [_spec("bert-base-uncased", 768, 12, 12, 109514298, peer=transformers_peer), _spec("bert-large-uncased", 1024, 24, 16, 335174458),
         _spec("bert-tiny", 128, 2, 2, 4416698)]
