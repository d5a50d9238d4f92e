"""GPT-2 (Radford et al. 2019): decoder-only transformer language model, with generation.

Pre-norm blocks whose causal self-attention runs on zoo's fused attention kernel
(a KV cache makes each generated token one decode step of the kernel) and whose
MLP bias + GELU (tanh form, GPT-2's "gelu_new") run on zoo's bias_act. The LM
head is tied to the token embedding. Hugging Face GPT-2 checkpoints (a
save_pretrained directory: config.json + model.safetensors) load with
`zoo.load("gpt2", weights=DIR)`: `hf_config` reads the architecture from
config.json and `hf_gpt2_to_zoo` renames the tensors and transposes HF's Conv1D
weights. Padding: attention_mask (B, L) of 1 for tokens, 0 for padding; position
ids count the tokens before each one (cumsum - 1), as HF's generate does, so a
left-padded batch generates as each row would alone.
"""

from __future__ import annotations

import torch
from torch import nn

import zoo
from zoo.nn import Attention, KVCache, Linear, LinearAct
from zoo.ops import linear
from zoo_nlp import generation
from zoo_nlp.examples import random_tokens, transformers_twin


class MLP(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.fc = LinearAct(dim, 4 * dim, activation="gelu_tanh")
        self.proj = Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.fc(x))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, eps: float, dropout: float):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, causal=True, dropout=dropout)
        self.ln_2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln_1(x), attn_mask=mask, cache=cache))
        return x + self.drop(self.mlp(self.ln_2(x)))


class GPT2(nn.Module):
    def __init__(self, vocab_size: int = 50257, n_positions: int = 1024, n_embd: int = 768, n_layer: int = 12,
                 n_head: int = 12, layer_norm_epsilon: float = 1e-5, dropout: float = 0.1):
        super().__init__()
        self.n_positions = n_positions
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(n_positions, n_embd)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList(Block(n_embd, n_head, layer_norm_epsilon, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, eps=layer_norm_epsilon)
        for name, p in self.named_parameters():  # GPT-2's initialisation, residual projections scaled by depth
            if p.dim() == 2:
                std = 0.02 / (2 * n_layer) ** 0.5 if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, std=std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                caches: list[KVCache] | None = None) -> torch.Tensor:
        """Next-token logits (B, L, vocab) for input_ids (B, L), after the `caches`' tokens if given.
        attention_mask covers the cached tokens and these, (B, cached + L)."""
        return linear(self.hidden_states(input_ids, attention_mask, caches), self.wte.weight)

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      caches: list[KVCache] | None = None) -> torch.Tensor:
        """The final layer norm's output (B, L, n_embd), before the tied LM head (see forward)."""
        if input_ids.dim() != 2:
            raise ValueError(f"argument 'input_ids' must be (B, L), got shape {tuple(input_ids.shape)}")
        past = len(caches[0]) if caches else 0
        b, length = input_ids.shape
        if past + length > self.n_positions:
            raise ValueError(f"argument 'input_ids': {past + length} positions exceed n_positions {self.n_positions}")
        if attention_mask is None:
            positions = torch.arange(past, past + length, device=input_ids.device).expand(b, -1)
            mask = None
        else:
            if attention_mask.shape != (b, past + length):
                raise ValueError(f"argument 'attention_mask' must be (B, cached + L) = {(b, past + length)}, "
                                 f"got {tuple(attention_mask.shape)}")
            positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, past:]
            mask = attention_mask.bool()[:, None, None, :]  # keys: True = attend
        x = self.drop(self.wte(input_ids) + self.wpe(positions))
        for i, block in enumerate(self.h):
            x = block(x, mask, caches[i] if caches is not None else None)
        return self.ln_f(x)

    def new_caches(self) -> list[KVCache]:
        return [KVCache() for _ in self.h]

    def step(self, input_ids, attention_mask, caches) -> torch.Tensor:
        """The next token's logits (B, vocab): the generation protocol (zoo_nlp.generation). Only the last
        position goes through the LM head (after a prompt, the others' logits are never read)."""
        mask = attention_mask if caches is not None else attention_mask[:, : input_ids.shape[1]]
        return linear(self.hidden_states(input_ids, mask, caches)[:, -1], self.wte.weight)

    def generate(self, input_ids: torch.Tensor, max_new_tokens: int = 20, **options) -> torch.Tensor:
        """Greedy (default) or sampled (do_sample=True, temperature, top_k, top_p, generator) continuation,
        with a KV cache unless use_cache=False; see zoo_nlp.generation.generate."""
        return generation.generate(self, input_ids, max_new_tokens, **options)


def hf_config(config: dict) -> dict:
    """A Hugging Face GPT2Config (config.json) as our config."""
    if config.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ValueError(f"GPT-2 config: activation_function {config['activation_function']!r} is not supported "
                         f"(GPT-2's tanh GELU is)")
    return {"vocab_size": config["vocab_size"], "n_positions": config["n_positions"], "n_embd": config["n_embd"],
            "n_layer": config["n_layer"], "n_head": config["n_head"],
            "layer_norm_epsilon": config.get("layer_norm_epsilon", 1e-5)}


_HF_NAMES = {"attn.c_attn.": "attn.qkv.", "attn.c_proj.": "attn.proj.", "mlp.c_fc.": "mlp.fc.",
             "mlp.c_proj.": "mlp.proj."}


def hf_gpt2_to_zoo(state: dict) -> dict:
    """HF names (transformer.h.0.attn.c_attn, Conv1D weights stored (in, out)) -> ours (h.0.attn.qkv, (out, in))."""
    if not any(k.startswith("transformer.") or ".c_attn." in k for k in state):
        return state  # ours already
    renamed = {}
    for key, value in state.items():
        key = key.removeprefix("transformer.")
        if key == "lm_head.weight" or key.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # tied to wte / causal-mask buffers of older checkpoints
        for old, new in _HF_NAMES.items():
            if old in key:
                key = key.replace(old, new)
                value = value.T.contiguous() if key.endswith("weight") else value
        renamed[key] = value
    return renamed


PEER_PROMPT, PEER_NEW_TOKENS = 32, 16


def transformers_peer(batch_size: int) -> zoo.PeerRun:
    """gpt2 vs transformers' GPT2LMHeadModel, same weights: greedy generation of 16 tokens after a 32-token
    prompt with each side's KV cache (per-token latency = time / 16)."""
    model, peer = transformers_twin("gpt2", "GPT2LMHeadModel")
    prompt = torch.randint(0, 50257, (batch_size, PEER_PROMPT), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(prompt)

    def ours():
        return model.generate(prompt, PEER_NEW_TOKENS)

    def theirs():
        return peer.generate(prompt, attention_mask=mask, max_new_tokens=PEER_NEW_TOKENS,
                             min_new_tokens=PEER_NEW_TOKENS, do_sample=False, pad_token_id=0)

    if not torch.equal(ours(), theirs()):
        raise AssertionError("gpt2 and transformers generated different tokens from the same weights")
    return zoo.PeerRun("transformers, 16 tokens greedy with KV cache", ours, theirs, batch_size * PEER_NEW_TOKENS,
                       "tokens/s")


def _spec(name: str, n_embd: int, n_layer: int, n_head: int, num_params: int, peer=None, **extra) -> zoo.ModelSpec:
    config = {"vocab_size": 50257, "n_positions": 1024, "n_embd": n_embd, "n_layer": n_layer, "n_head": n_head,
              "layer_norm_epsilon": 1e-5, "dropout": 0.1, **extra}
    return zoo.ModelSpec(
        name=name,
        builder=GPT2,
        domain="nlp",
        task="text-generation",
        inputs=random_tokens,
        default_config=config,
        paper="https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf",
        ops=("attention", "linear"),
        num_params=num_params,
        convert=hf_gpt2_to_zoo,
        convert_config=hf_config,
        peer=peer,
    )


GPT2S = [
    _spec("gpt2", 768, 12, 12, 124439808, peer=transformers_peer),
    _spec("gpt2-medium", 1024, 24, 16, 354823168),
    _spec("gpt2-large", 1280, 36, 20, 774030080),
    _spec("gpt2-xl", 1600, 48, 25, 1557611200),
    _spec("gpt2-tiny", 64, 2, 2, 172288, vocab_size=1000, n_positions=128),
]
