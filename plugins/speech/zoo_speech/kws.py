"""Keyword-spotting CNN over log-mel features (Sainath & Parada 2015, cnn-trad-fpool3 shape).

Input: log-mel spectrogram (batch, 1, n_mels, frames), e.g. 40 mels x 101 frames
for one second at a 10 ms hop. Two convolutions with max-pooling in frequency,
then a dense layer; convolutions run on zoo's conv kernel with bias + ReLU fused in,
the dense layer's bias + ReLU on zoo's bias_act kernel.
"""

import torch
from torch import nn

import zoo
from zoo.nn import Conv2dAct, Linear, LinearAct, channels_last


class KeywordCNN(nn.Module):
    def __init__(self, num_classes: int = 12, n_mels: int = 40, frames: int = 101, channels: int = 64):
        super().__init__()
        if n_mels < 29 or frames < 11:
            raise ValueError(f"arguments 'n_mels' and 'frames' must be at least 29 and 11, got {n_mels} and {frames}")
        self.features = nn.Sequential(
            Conv2dAct(1, channels, (20, 8)),  # (freq, time) kernels as in the paper
            nn.MaxPool2d((3, 1)),
            Conv2dAct(channels, channels, (4, 4)),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            LinearAct(channels, 128),
        )
        self.head = Linear(128, num_classes)

    def forward_features(self, mels: torch.Tensor) -> torch.Tensor:
        return self.features(channels_last(mels))

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """Keyword logits, (batch, num_classes)."""
        return self.head(self.forward_features(mels))


def _log_mels(config, batch_size):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(batch_size, 1, config["n_mels"], config["frames"], generator=g),)


KWS_CNN = zoo.ModelSpec(
    name="kws_cnn",
    builder=KeywordCNN,
    domain="speech",
    task="keyword-spotting",
    inputs=_log_mels,
    default_config={"num_classes": 12, "n_mels": 40, "frames": 101, "channels": 64},
    paper="https://www.isca-archive.org/interspeech_2015/sainath15b_interspeech.html",
    ops=("conv", "linear"),
    num_params=85772,
)
