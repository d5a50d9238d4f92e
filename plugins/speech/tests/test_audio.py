"""Audio in: resampling against analytic sines; WAV and FLAC written by soundfile read back and resampled."""

import math

import pytest
import torch

from zoo_speech.audio import read_audio, resample

soundfile = pytest.importorskip("soundfile", reason="the audio tests need soundfile (zoo-speech[audio])")


def sine(freq, rate, seconds=1.0):
    return torch.sin(2 * math.pi * freq * torch.arange(int(rate * seconds), dtype=torch.float64) / rate)


@pytest.mark.parametrize("orig, new, freq", [(44100, 16000, 440.0), (8000, 16000, 1000.0), (22050, 16000, 3000.0),
                                             (16000, 8000, 700.0)])
def test_resampled_sine_is_the_sine_sampled_at_the_new_rate(orig, new, freq):
    out = resample(sine(freq, orig), orig, new)
    assert len(out) == math.ceil(orig * new / orig)
    edge = new // 50  # the first and last 20 ms see the zero padding
    torch.testing.assert_close(out[edge:-edge], sine(freq, new)[edge:-edge], atol=2e-3, rtol=0)


def test_resample_keeps_leading_dimensions_and_refuses_bad_rates():
    x = torch.randn(2, 3, 800)
    assert resample(x, 8000, 16000).shape == (2, 3, 1600)
    assert resample(x, 8000, 8000) is x
    with pytest.raises(ValueError, match="must be positive"):
        resample(x, 0, 16000)


@pytest.mark.parametrize("suffix, subtype", [(".wav", "PCM_16"), (".flac", "PCM_24")])
def test_wav_and_flac_are_read_mixed_to_mono_and_resampled(tmp_path, suffix, subtype):
    left, right = 0.5 * sine(440, 22050), 0.25 * sine(880, 22050)
    path = tmp_path / f"clip{suffix}"
    soundfile.write(path, torch.stack([left, right], 1).numpy(), 22050, subtype=subtype)
    waveform, rate = read_audio(path)
    assert rate == 22050 and waveform.dtype == torch.float32
    torch.testing.assert_close(waveform.double(), (left + right) / 2, atol=1e-4, rtol=0)  # 16-bit quantisation
    resampled, rate = read_audio(path, 16000)
    assert rate == 16000
    torch.testing.assert_close(resampled, resample(waveform, 22050, 16000))


def test_unreadable_audio_is_named(tmp_path):
    (tmp_path / "noise.wav").write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="could not read"):
        read_audio(tmp_path / "noise.wav")
