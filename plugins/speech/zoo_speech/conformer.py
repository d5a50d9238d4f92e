"""Conformer (Gulati et al. 2020) encoder with a CTC head.

Conv subsampling (two stride-2 3x3 convs, 4x fewer frames), then blocks of
half-step feed-forward, self-attention, convolution module and a second
half-step feed-forward ("macaron"), each pre-norm and residual. Attention runs
on zoo's fused kernel with rotary position embeddings (in place of the paper's
Transformer-XL relative positions; both encode offsets, rotary needs no extra
parameters); the convolution module's depthwise conv1d on zoo's conv kernel;
feed-forward bias + SiLU on zoo's bias_act. Padded frames are masked out of the
attention and zeroed before the depthwise conv, so a clip's output does not
depend on the padding beside it in a batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.nn import Attention, Conv1d, Conv2dAct, Linear, LinearAct, channels_last
from zoo_speech.ctc import CTCRecognizer, example_waveforms, strided_lengths, zero_padding


class FeedForward(nn.Module):
    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.up = LinearAct(dim, 4 * dim, activation="silu")
        self.down = Linear(4 * dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.down(self.drop(self.up(self.norm(x)))))


class ConvModule(nn.Module):
    """Pointwise conv + GLU, depthwise conv1d over time, batch norm, SiLU, pointwise conv."""

    def __init__(self, dim: int, kernel_size: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.pointwise_in = Linear(dim, 2 * dim)
        self.depthwise = Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.batch_norm = nn.BatchNorm1d(dim)
        self.pointwise_out = Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = F.glu(self.pointwise_in(self.norm(x)), dim=-1) * valid[..., None]
        x = F.silu(self.batch_norm(self.depthwise(x.transpose(1, 2)))).transpose(1, 2)
        return self.drop(self.pointwise_out(x))


class ConformerBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, kernel_size: int, dropout: float):
        super().__init__()
        self.ff1, self.ff2 = FeedForward(dim, dropout), FeedForward(dim, dropout)
        self.attn_norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, rotary=True, dropout=dropout)
        self.conv = ConvModule(dim, kernel_size, dropout)
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.ff1(x)
        x = x + self.drop(self.attn(self.attn_norm(x), attn_mask=valid[:, None, None, :]))
        x = x + self.conv(x, valid)
        return self.norm(x + 0.5 * self.ff2(x))


class Conformer(CTCRecognizer):
    def __init__(self, sample_rate: int = 16000, n_mels: int = 80, dim: int = 144, num_blocks: int = 16,
                 num_heads: int = 4, kernel_size: int = 31, dropout: float = 0.1, spec_augment: bool = True):
        super().__init__(sample_rate, n_mels, spec_augment)
        if kernel_size % 2 == 0:
            raise ValueError(f"argument 'kernel_size' must be odd (same-length depthwise conv), got {kernel_size}")
        self.subsample1, self.subsample2 = Conv2dAct(1, dim, 3, 2, 1), Conv2dAct(dim, dim, 3, 2, 1)
        bands = strided_lengths(strided_lengths(n_mels, 3, 2, 1), 3, 2, 1)
        self.project = Linear(dim * bands, dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(ConformerBlock(dim, num_heads, kernel_size, dropout) for _ in range(num_blocks))
        self.head = Linear(dim, len(self.vocabulary))

    def encode(self, features: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        halved = strided_lengths(frames, 3, 2, 1)
        lengths = strided_lengths(halved, 3, 2, 1)
        x = self.subsample2(zero_padding(self.subsample1(channels_last(features[:, None])), halved))
        x = zero_padding(x, lengths)  # (B, dim, bands, T / 4)
        x = self.drop(self.project(x.flatten(1, 2).transpose(1, 2)))
        valid = torch.arange(x.shape[1], device=x.device) < lengths[:, None]
        for block in self.blocks:
            x = block(x, valid)
        return self.head(x), lengths


CONFORMER = zoo.ModelSpec(
    name="conformer_ctc_small",
    builder=Conformer,
    domain="speech",
    task="speech-recognition",
    inputs=example_waveforms,
    default_config={"sample_rate": 16000, "n_mels": 80, "dim": 144, "num_blocks": 16, "num_heads": 4,
                    "kernel_size": 31, "dropout": 0.1, "spec_augment": True},
    paper="https://arxiv.org/abs/2005.08100",
    ops=("conv", "attention", "linear"),
    num_params=8378669,
)
