"""DeepSpeech2's training recipe (`zoo train deepspeech2`): spoken characters as tone sequences.

Each character of a small alphabet has its own pitch (mel-spaced from 300 Hz
to 3.4 kHz); an utterance says 2 to 6 characters as 90-160 ms tones separated
by short silences, under a little noise, at the model's 16 kHz. Repeated
characters are separate tones, so CTC must learn to put a blank between them.
Training is CTC loss on fresh random utterances every step; the score is the
character error rate of greedy decoding on held-out utterances.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.registry import recipe_length
from zoo_speech.features import hz_to_mel, mel_to_hz
from zoo_speech.text import character_error_rate, ctc_greedy_decode

SAMPLE_RATE, ALPHABET = 16000, "abcdefgh"
PITCHES = mel_to_hz(torch.linspace(float(hz_to_mel(torch.tensor(300.0))), float(hz_to_mel(torch.tensor(3400.0))),
                                   len(ALPHABET), dtype=torch.float64))
MODEL = {"n_mels": 40, "conv_channels": 16, "hidden_size": 96, "num_layers": 2, "spec_augment": False}
STEPS, BATCH_SIZE, TEST_UTTERANCES = 400, 16, 64


def _silence(g: torch.Generator, low: float, high: float, rate: int) -> torch.Tensor:
    return torch.zeros(int(rate * (low + (high - low) * torch.rand((), generator=g))), dtype=torch.float64)


def tone_utterance(g: torch.Generator, sample_rate: int = SAMPLE_RATE) -> tuple[torch.Tensor, str]:
    """(waveform (samples,) float32 at `sample_rate`, its text)."""
    text = "".join(ALPHABET[i] for i in torch.randint(0, len(ALPHABET), (int(torch.randint(2, 7, (), generator=g)),),
                                                      generator=g))
    pieces = [_silence(g, 0.05, 0.1, sample_rate)]
    for character in text:
        t = torch.arange(int(sample_rate * (0.09 + 0.07 * torch.rand((), generator=g))), dtype=torch.float64)
        envelope = torch.sin(torch.pi * t / len(t))  # no clicks at the edges
        amplitude = 0.3 + 0.3 * torch.rand((), generator=g)
        pieces += [amplitude * envelope * torch.sin(2 * torch.pi * PITCHES[ALPHABET.index(character)] * t /
                                                    sample_rate), _silence(g, 0.03, 0.06, sample_rate)]
    waveform = torch.cat(pieces + [_silence(g, 0.02, 0.05, sample_rate)])
    return (waveform + 0.01 * torch.randn(waveform.shape, generator=g, dtype=torch.float64)).float(), text


def batch(g: torch.Generator, count: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(padded waveforms (count, samples), valid samples (count,), texts)."""
    waveforms, texts = zip(*(tone_utterance(g) for _ in range(count)))
    lengths = torch.tensor([len(w) for w in waveforms])
    return torch.stack([F.pad(w, (0, int(lengths.max()) - len(w))) for w in waveforms]), lengths, list(texts)


def train_deepspeech2(epochs: int | None = None, seed: int = 0,
                      log: Callable[[str], None] = print) -> tuple[nn.Module, dict[str, float]]:
    """Adam at 4e-3 for 400 steps (`epochs` counts steps of fresh utterances here), batches of 16."""
    steps = recipe_length(epochs, STEPS)
    torch.manual_seed(seed)
    data = torch.Generator().manual_seed(2 * seed + 1)  # odd seeds train, seed 0 makes the test utterances
    model = zoo.load("deepspeech2", **MODEL)
    optimizer = torch.optim.Adam(model.parameters(), lr=4e-3)
    start = time.perf_counter()
    model.train()
    for step in range(steps):
        waveforms, lengths, texts = batch(data, BATCH_SIZE)
        log_probs, frames = model(waveforms, lengths)
        targets = [model.vocabulary.encode(t) for t in texts]
        loss = F.ctc_loss(log_probs.transpose(0, 1), torch.cat(targets), frames,
                          torch.tensor([len(t) for t in targets]), zero_infinity=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 50 == 0 or step + 1 == steps:
            log(f"step {step + 1}/{steps}: CTC loss {loss.item():.4f}")
    model.eval()
    waveforms, lengths, texts = batch(torch.Generator().manual_seed(0), TEST_UTTERANCES)
    with torch.no_grad():
        hypotheses = ctc_greedy_decode(*model(waveforms, lengths), model.vocabulary)
    return model, {"test_cer": character_error_rate(hypotheses, texts), "final_ctc_loss": loss.item(),
                   "seconds": time.perf_counter() - start}
