"""`zoo train deepspeech2`: CTC loss falls and greedy decoding reaches a character error rate below 10% on
held-out tone utterances; the checkpoint then transcribes a WAV and a FLAC written by soundfile at other
rates, read back and resampled to 16 kHz end to end."""

import json

import pytest
import torch

import zoo
from zoo.cli import main
from zoo_speech.recipe import tone_utterance
from zoo_speech.text import character_error_rate

soundfile = pytest.importorskip("soundfile", reason="the audio tests need soundfile (zoo-speech[audio])")


def test_recipe_reaches_cer_below_10_percent_and_transcribes_files(tmp_path, capsys):
    path = tmp_path / "deepspeech2.safetensors"
    assert main(["train", "deepspeech2", "--output", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads(out[out.index('{\n  "name"'):])["metrics"]
    losses = [float(line.rsplit(" ", 1)[1]) for line in out.splitlines() if "CTC loss" in line]
    assert losses[-1] < losses[0] / 5
    assert metrics["test_cer"] < 0.10
    model = zoo.load(str(path))

    g = torch.Generator().manual_seed(99)
    files, texts = [], []
    for i, (suffix, rate) in enumerate([(".wav", 22050), (".flac", 8000), (".wav", 44100), (".flac", 16000)]):
        waveform, text = tone_utterance(g, sample_rate=rate)
        files.append(tmp_path / f"utterance{i}{suffix}")
        soundfile.write(files[-1], waveform.numpy(), rate)
        texts.append(text)
    assert character_error_rate(model.transcribe(files), texts) < 0.15
    assert model.transcribe(files[0]) == model.transcribe(files)[0]
