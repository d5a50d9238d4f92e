"""What the CTC speech recognisers share: waveforms in, per-frame character log-probabilities out.

A recogniser holds its front end (log-mels, per-utterance normalisation,
SpecAugment in training) and its vocabulary, so `model(waveforms, lengths)` is
all a CTC loss needs and `model.transcribe("clip.flac")` is all a user needs.
Subclasses define `encode(features, frames) -> (logits (B, T', V), lengths (B,))`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo_speech.audio import read_audio, resample
from zoo_speech.features import LogMel, SpecAugment, normalize_per_utterance
from zoo_speech.text import Vocabulary, ctc_greedy_decode

Audio = str | Path | torch.Tensor


class CTCRecognizer(nn.Module):
    def __init__(self, sample_rate: int, n_mels: int, spec_augment: bool):
        super().__init__()
        self.sample_rate = sample_rate
        self.vocabulary = Vocabulary()
        self.frontend = LogMel(sample_rate, n_mels=n_mels)
        self.spec_augment = SpecAugment(freq_width=min(27, n_mels // 4)) if spec_augment else nn.Identity()

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, samples) at `sample_rate`, with each clip's valid sample count if padded -> (log-probs (B, T, V),
        valid frames (B,)), ready for F.ctc_loss (after a transpose to (T, B, V))."""
        if waveforms.dim() != 2:
            raise ValueError(f"argument 'waveforms' must be (B, samples), got shape {tuple(waveforms.shape)}")
        padded = lengths is not None  # and then checked by value: a traced graph takes clips without lengths
        if not padded:
            lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], device=waveforms.device)
        elif lengths.shape != waveforms.shape[:1] or (lengths < 1).any() or (lengths > waveforms.shape[1]).any():
            raise ValueError(f"argument 'lengths' must hold one count in 1 .. {waveforms.shape[1]} per clip, "
                             f"got {lengths.tolist()}")
        frames = self.frontend.frames(lengths)
        if not padded or (lengths == waveforms.shape[1]).all():
            features = self.frontend(waveforms)
        else:  # each clip alone, so its last frames reflect its own end, not the padding after it
            features = torch.zeros(len(lengths), self.frontend.filterbank.shape[1], int(frames.max()),
                                   device=waveforms.device)
            for i, (clip, length, count) in enumerate(zip(waveforms, lengths.tolist(), frames.tolist())):
                features[i, :, :count] = self.frontend(clip[None, :length])[0]
        features = self.spec_augment(normalize_per_utterance(features, frames))
        logits, out_lengths = self.encode(features, frames)
        return logits.log_softmax(-1), out_lengths

    def encode(self, features: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must define encode(features, frames)")

    def _waveform(self, audio: Audio, sample_rate: int | None) -> torch.Tensor:
        if isinstance(audio, (str, Path)):
            return read_audio(audio, self.sample_rate)[0]
        if audio.dim() != 1:
            raise ValueError(f"argument 'audio' tensors must be mono (samples,), got shape {tuple(audio.shape)}")
        return resample(audio.float(), sample_rate or self.sample_rate, self.sample_rate)

    @torch.no_grad()
    def transcribe(self, audio: Audio | Sequence[Audio], sample_rate: int | None = None) -> str | list[str]:
        """Text of an audio file (WAV, FLAC, ...) or mono waveform at `sample_rate` (default: the model's),
        or of a list of them, by greedy CTC decoding. Call on a model in eval mode (as zoo.load returns it)."""
        clips = [audio] if isinstance(audio, (str, Path, torch.Tensor)) else list(audio)
        waveforms = [self._waveform(clip, sample_rate) for clip in clips]
        lengths = torch.tensor([len(w) for w in waveforms])
        batch = torch.stack([F.pad(w, (0, int(lengths.max()) - len(w))) for w in waveforms])
        device = next(self.parameters()).device
        log_probs, out_lengths = self(batch.to(device), lengths.to(device))
        texts = ctc_greedy_decode(log_probs, out_lengths, self.vocabulary)
        return texts[0] if isinstance(audio, (str, Path, torch.Tensor)) else texts


def example_waveforms(config, batch_size):
    """One second of quiet noise per clip at the model's rate."""
    g = torch.Generator().manual_seed(0)
    return (0.1 * torch.randn(batch_size, config["sample_rate"], generator=g),)


def strided_lengths(lengths: torch.Tensor | int, kernel: int, stride: int, padding: int) -> torch.Tensor | int:
    """Output size of a conv along one axis (frames, or mel bands) for inputs of size `lengths`."""
    return (lengths + 2 * padding - kernel) // stride + 1


def zero_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """x (B, ..., T) with the frames past each item's length set to 0, which the next conv's own zero
    padding would have given it had the item been alone."""
    valid = torch.arange(x.shape[-1], device=x.device) < lengths[:, None]
    return x * valid.view(len(lengths), *[1] * (x.dim() - 2), -1)
