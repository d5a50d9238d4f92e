"""Audio in: WAV/FLAC (anything libsndfile reads) via soundfile, mixed to mono, resampled to the model's rate.

Resampling is band-limited sinc interpolation with a Hann window (torchaudio's
default method: 6 zero crossings, roll-off 0.99), written as one strided conv1d
over polyphase kernels, so it runs on any device and needs no torchaudio.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

ZERO_CROSSINGS, ROLLOFF = 6, 0.99


def _sinc_kernels(orig: int, new: int, dtype: torch.dtype) -> tuple[torch.Tensor, int]:
    """(new, 1, taps) polyphase kernels, one per output phase, and the padding width they need."""
    cutoff = min(orig, new) * ROLLOFF
    width = math.ceil(ZERO_CROSSINGS * orig / cutoff)
    offsets = torch.arange(-width, width + orig, dtype=torch.float64) / orig
    t = (-torch.arange(new, dtype=torch.float64)[:, None] / new + offsets) * cutoff
    t = t.clamp(-ZERO_CROSSINGS, ZERO_CROSSINGS)
    window = torch.cos(t * math.pi / ZERO_CROSSINGS / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
    return (sinc * window * cutoff / orig).to(dtype)[:, None], width


def resample(waveform: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """(..., samples) at orig_rate -> (..., ceil(samples * new_rate / orig_rate)) at new_rate."""
    if min(orig_rate, new_rate) <= 0:
        raise ValueError(f"arguments 'orig_rate' and 'new_rate' must be positive, got {orig_rate} and {new_rate}")
    if orig_rate == new_rate:
        return waveform
    divisor = math.gcd(orig_rate, new_rate)
    orig, new = orig_rate // divisor, new_rate // divisor
    kernels, width = _sinc_kernels(orig, new, waveform.dtype)
    shape, length = waveform.shape[:-1], waveform.shape[-1]
    padded = F.pad(waveform.reshape(-1, 1, length), (width, width + orig))
    out = F.conv1d(padded, kernels.to(waveform.device), stride=orig).transpose(1, 2).reshape(len(padded), -1)
    return out[:, : math.ceil(new * length / orig)].reshape(*shape, -1)


def read_audio(path: str | Path, sample_rate: int | None = None) -> tuple[torch.Tensor, int]:
    """(mono waveform (samples,) float32 in [-1, 1], its rate): the file's rate, or `sample_rate` if given."""
    try:
        import soundfile
    except ImportError:
        raise ImportError("reading audio files needs soundfile: pip install 'zoo-speech[audio]'") from None
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise ValueError(f"argument 'path': could not read {str(path)!r} as audio ({error})") from None
    waveform = torch.from_numpy(data).mean(1)
    if sample_rate is not None:
        waveform, rate = resample(waveform, rate, sample_rate), sample_rate
    return waveform, rate
