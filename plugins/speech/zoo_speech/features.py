"""Log-mel features and SpecAugment, in torch (no torchaudio, nothing downloaded).

LogMel: a Hann-windowed STFT (centred frames, reflect padding, as torch.stft and
torchaudio do it), the power spectrum through an HTK-scale triangular mel
filterbank, then log(mel + 1e-6). `frames(samples)` gives the frame count, so
models can carry each utterance's valid length through a padded batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int, f_min: float, f_max: float) -> torch.Tensor:
    """(n_freqs, n_mels) triangles with peaks equally spaced in HTK mels (torchaudio's melscale_fbanks, norm=None)."""
    bins = torch.linspace(0, sample_rate / 2, n_freqs, dtype=torch.float64)
    low, high = (2595.0 * math.log10(1.0 + f / 700.0) for f in (f_min, f_max))
    edges = mel_to_hz(torch.linspace(low, high, n_mels + 2, dtype=torch.float64))
    low, centre, high = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - low) / (centre - low)
    falling = (high - bins[:, None]) / (high - centre)
    return torch.minimum(rising, falling).clamp(min=0).float()


class LogMel(nn.Module):
    """Waveforms (B, samples) -> log-mel spectrograms (B, n_mels, frames)."""

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400, hop_length: int = 160, n_mels: int = 80,
                 f_min: float = 0.0, f_max: float | None = None):
        super().__init__()
        f_max = sample_rate / 2 if f_max is None else f_max
        if not 0 <= f_min < f_max <= sample_rate / 2:
            raise ValueError(f"arguments 'f_min' and 'f_max' must satisfy 0 <= f_min < f_max <= sample_rate / 2, "
                             f"got {f_min} and {f_max}")
        self.sample_rate, self.n_fft, self.hop_length = sample_rate, n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("filterbank", mel_filterbank(n_fft // 2 + 1, n_mels, sample_rate, f_min, f_max),
                             persistent=False)

    def frames(self, samples: torch.Tensor | int) -> torch.Tensor | int:
        """Frames for a clip of `samples` samples (centred STFT: one per hop, plus one)."""
        return samples // self.hop_length + 1

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        if waveforms.dim() != 2:
            raise ValueError(f"argument 'waveforms' must be (B, samples), got shape {tuple(waveforms.shape)}")
        if waveforms.shape[1] <= self.n_fft // 2:
            raise ValueError(f"argument 'waveforms' must be longer than n_fft / 2 = {self.n_fft // 2} samples "
                             f"(reflect padding), got {waveforms.shape[1]}")
        spectrum = torch.stft(waveforms.float(), self.n_fft, self.hop_length, window=self.window, center=True,
                              pad_mode="reflect", return_complex=True)
        power = spectrum.real.square() + spectrum.imag.square()  # (B, freqs, frames)
        return torch.log(torch.einsum("bft,fm->bmt", power, self.filterbank) + 1e-6)


def normalize_per_utterance(features: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Each utterance's features (B, n_mels, T) to zero mean, unit variance per mel band over its valid frames."""
    valid = (torch.arange(features.shape[-1], device=features.device) < frames[:, None])[:, None]
    count = valid.sum(-1, keepdim=True).clamp(min=1)
    mean = (features * valid).sum(-1, keepdim=True) / count
    var = ((features - mean).square() * valid).sum(-1, keepdim=True) / count
    return ((features - mean) / (var + 1e-5).sqrt()) * valid


class SpecAugment(nn.Module):
    """SpecAugment's masking (Park et al. 2019), applied in training only: `freq_masks` bands of up to
    `freq_width` mel channels and `time_masks` spans of up to `time_ratio` of the frames set to 0
    (the mean after per-utterance normalisation). Time warping is left out, as most recipes now do."""

    def __init__(self, freq_masks: int = 2, freq_width: int = 27, time_masks: int = 2, time_ratio: float = 0.05):
        super().__init__()
        if min(freq_masks, freq_width, time_masks) < 0 or not 0 <= time_ratio <= 1:
            raise ValueError("SpecAugment counts and widths must be non-negative and 'time_ratio' in [0, 1]")
        self.freq_masks, self.freq_width, self.time_masks, self.time_ratio = freq_masks, freq_width, time_masks, time_ratio

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return features
        batch, n_mels, frames = features.shape
        keep = torch.ones_like(features, dtype=torch.bool)
        bands = torch.arange(n_mels, device=features.device)[None, :, None]
        steps = torch.arange(frames, device=features.device)[None, None, :]
        for count, width, size, index in ((self.freq_masks, self.freq_width, n_mels, bands),
                                          (self.time_masks, math.floor(self.time_ratio * frames), frames, steps)):
            width = min(width, size)
            for _ in range(count):
                span = torch.randint(0, width + 1, (batch, 1, 1), device=features.device)
                start = (torch.rand(batch, 1, 1, device=features.device) * (size - span + 1)).long()
                keep &= ~((index >= start) & (index < start + span))
        return features * keep
