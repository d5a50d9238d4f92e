"""DeepSpeech2 (Amodei et al. 2015): a 2D conv front end, bidirectional GRUs (or LSTMs), a CTC head.

The two convolutions stride over frequency and time (41x11 and 21x11 kernels,
clipped ReLU as in the paper) on zoo's conv kernel; the recurrent layers run on
zoo's fused GRU/LSTM kernels over packed sequences, so padding in a batch never
leaks into another clip's backward direction.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import zoo
from zoo.nn import Conv2d, GRU, LSTM, Linear, channels_last
from zoo_speech.ctc import CTCRecognizer, example_waveforms, strided_lengths, zero_padding
from zoo_speech.recipe import train_deepspeech2

RNNS = {"gru": GRU, "lstm": LSTM}


class DeepSpeech2(CTCRecognizer):
    def __init__(self, sample_rate: int = 16000, n_mels: int = 80, conv_channels: int = 32, rnn_type: str = "gru",
                 hidden_size: int = 512, num_layers: int = 3, spec_augment: bool = True):
        super().__init__(sample_rate, n_mels, spec_augment)
        if rnn_type not in RNNS:
            raise ValueError(f"argument 'rnn_type' must be one of {', '.join(map(repr, RNNS))}, got {rnn_type!r}")
        c = conv_channels
        self.conv1 = nn.Sequential(Conv2d(1, c, (41, 11), (2, 2), (20, 5), bias=False), nn.BatchNorm2d(c),
                                   nn.Hardtanh(0, 20, inplace=True))
        self.conv2 = nn.Sequential(Conv2d(c, c, (21, 11), (2, 1), (10, 5), bias=False), nn.BatchNorm2d(c),
                                   nn.Hardtanh(0, 20, inplace=True))
        bands = strided_lengths(strided_lengths(n_mels, 41, 2, 20), 21, 2, 10)
        self.rnn = RNNS[rnn_type](c * bands, hidden_size, num_layers, batch_first=True, bidirectional=True)
        self.head = Linear(2 * hidden_size, len(self.vocabulary))

    def encode(self, features: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = strided_lengths(frames, 11, 2, 5)  # the second conv keeps the first's frame count
        x = self.conv2(zero_padding(self.conv1(channels_last(features[:, None])), lengths))  # (B, C, bands, T')
        x = x.flatten(1, 2).transpose(1, 2)  # (B, T', C * bands)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=x.shape[1])
        return self.head(out), lengths


DEEPSPEECH2 = zoo.ModelSpec(
    name="deepspeech2",
    builder=DeepSpeech2,
    domain="speech",
    task="speech-recognition",
    inputs=example_waveforms,
    default_config={"sample_rate": 16000, "n_mels": 80, "conv_channels": 32, "rnn_type": "gru", "hidden_size": 512,
                    "num_layers": 3, "spec_augment": True},
    paper="https://arxiv.org/abs/1512.02595",
    ops=("conv", "gru", "linear"),
    num_params=13275389,
    train=train_deepspeech2,
)
