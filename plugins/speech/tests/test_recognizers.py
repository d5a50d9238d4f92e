"""DeepSpeech2 and the Conformer: a clip's output does not depend on the padding beside it in a batch,
lengths are carried through, and bad input is named."""

import pytest
import torch

import zoo

SMALL = {"deepspeech2": {"n_mels": 40, "conv_channels": 4, "hidden_size": 16, "num_layers": 2},
         "conformer_ctc_small": {"n_mels": 40, "dim": 32, "num_blocks": 2, "num_heads": 2, "kernel_size": 7}}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_padding_beside_a_clip_does_not_change_its_output(name):
    torch.manual_seed(0)
    model = zoo.load(name, **SMALL[name])
    g = torch.Generator().manual_seed(1)
    short, long = 0.3 * torch.randn(5000, generator=g), 0.3 * torch.randn(12000, generator=g)
    with torch.no_grad():
        alone, alone_frames = model(short[None])
        batch = torch.stack([torch.nn.functional.pad(short, (0, 7000)), long])
        together, frames = model(batch, torch.tensor([5000, 12000]))
    assert frames[0] == alone_frames[0] and together.shape[1] > alone.shape[1]
    torch.testing.assert_close(together[0, :frames[0]], alone[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(together[0].exp().sum(-1), torch.ones(together.shape[1]))  # log-probabilities


@pytest.mark.parametrize("name", sorted(SMALL))
def test_transcribe_takes_tensors_and_lists_and_names_bad_input(name):
    model = zoo.load(name, **SMALL[name])
    clip = 0.1 * torch.randn(8000)
    text = model.transcribe(clip)
    assert isinstance(text, str) and set(text) <= set(model.vocabulary.characters)
    assert model.transcribe([clip, clip[:4000]])[0] == text
    assert model.transcribe(clip[::2].contiguous(), sample_rate=8000) is not None
    with pytest.raises(ValueError, match="argument 'audio'"):
        model.transcribe(torch.zeros(2, 8000))
    with pytest.raises(ValueError, match="argument 'lengths'"):
        model(torch.zeros(2, 8000), torch.tensor([8000, 9000]))
    with pytest.raises(ValueError, match="argument 'waveforms'"):
        model(torch.zeros(8000))


def test_bad_configs_are_named():
    with pytest.raises(ValueError, match="argument 'rnn_type'"):
        zoo.load("deepspeech2", rnn_type="transformer")
    with pytest.raises(ValueError, match="argument 'kernel_size'"):
        zoo.load("conformer_ctc_small", kernel_size=8)
