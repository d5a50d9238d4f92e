"""Log-mels against a NumPy computation from the definitions; SpecAugment and per-utterance normalisation."""

import numpy as np
import pytest
import torch

from zoo_speech.features import LogMel, SpecAugment, normalize_per_utterance


def numpy_log_mel(signal, rate, n_fft, hop, n_mels):
    """Reflect-pad, frame, periodic Hann, |rfft|^2, HTK triangles, log: written out independently."""
    padded = np.pad(signal, n_fft // 2, mode="reflect")
    count = 1 + (len(padded) - n_fft) // hop
    frames = np.stack([padded[i * hop:i * hop + n_fft] for i in range(count)])
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2  # (frames, bins)
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)  # noqa: E731
    edges = hz(np.linspace(mel(0), mel(rate / 2), n_mels + 2))
    bins = np.linspace(0, rate / 2, n_fft // 2 + 1)
    bank = np.zeros((len(bins), n_mels))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        for b, f in enumerate(bins):
            if lo < f <= mid:
                bank[b, m] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                bank[b, m] = (hi - f) / (hi - mid)
    return np.log(power @ bank + 1e-6).T  # (n_mels, frames)


def test_log_mel_matches_the_definition():
    signal = np.random.default_rng(0).standard_normal(4000) * 0.3
    frontend = LogMel(sample_rate=8000, n_fft=256, hop_length=80, n_mels=24)
    ours = frontend(torch.tensor(signal, dtype=torch.float32)[None])[0]
    expected = numpy_log_mel(signal, 8000, 256, 80, 24)
    assert ours.shape == expected.shape and ours.shape[1] == frontend.frames(4000)
    np.testing.assert_allclose(ours.numpy(), expected, atol=2e-3, rtol=1e-4)


def test_a_tone_lights_the_mel_band_of_its_pitch():
    t = torch.arange(16000) / 16000
    mels = LogMel(n_mels=40)(torch.sin(2 * torch.pi * 1000 * t)[None])[0]
    peak = mels.mean(1).argmax().item()
    hz = 700 * (10 ** (torch.linspace(0, 2595 * np.log10(1 + 8000 / 700), 42) / 2595) - 1)
    assert hz[peak] < 1000 < hz[peak + 2]  # 1 kHz lies inside the peak band's triangle


def test_normalisation_uses_valid_frames_only():
    features = torch.randn(2, 5, 10) * 3 + 7
    out = normalize_per_utterance(features, torch.tensor([10, 6]))
    torch.testing.assert_close(out[1, :, :6].mean(1), torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1, :, :6].var(1, unbiased=False), torch.ones(5), atol=1e-3, rtol=0)
    assert (out[1, :, 6:] == 0).all()


def test_spec_augment_masks_bands_and_spans_in_training_only():
    torch.manual_seed(0)
    augment = SpecAugment(freq_masks=2, freq_width=5, time_masks=2, time_ratio=0.1)
    features = torch.rand(8, 40, 100) + 1  # never 0 on its own
    assert augment.eval()(features) is features
    masked = augment.train()(features)
    kept = masked != 0
    assert torch.equal(masked[kept], features[kept])
    for utterance in kept:
        rows = (~utterance).all(1).sum().item()
        columns = (~utterance).all(0).sum().item()
        assert rows <= 2 * 5 and columns <= 2 * 10
        assert ((~utterance) == ((~utterance).all(1)[:, None] | (~utterance).all(0)[None, :])).all()
    assert not kept.all()
    with pytest.raises(ValueError, match="time_ratio"):
        SpecAugment(time_ratio=2.0)
