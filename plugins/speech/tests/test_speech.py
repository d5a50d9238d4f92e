"""zoo-speech: the keyword-spotting CNN against plain torch, and its input contract."""

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.ops import backend


def test_kws_cnn_matches_plain_torch():
    model = zoo.load("kws_cnn")
    (mels,) = zoo.info("kws_cnn").example_inputs(2)
    c1, c2, dense = model.features[0], model.features[2], model.features[5]
    x = F.max_pool2d(F.relu(F.conv2d(mels, c1.weight, c1.bias)), (3, 1))
    x = F.relu(F.conv2d(x, c2.weight, c2.bias)).mean(dim=(2, 3))
    expected = F.linear(F.relu(F.linear(x, dense.weight, dense.bias)), model.head.weight, model.head.bias)
    with torch.no_grad(), backend("ext"):
        torch.testing.assert_close(model(mels), expected, atol=1e-5, rtol=1e-5)


def test_any_clip_length_and_a_clear_error_for_too_short_ones():
    model = zoo.load("kws_cnn", num_classes=35)
    assert model(torch.randn(1, 1, 40, 60)).shape == (1, 35)
    with pytest.raises(ValueError, match="'n_mels' and 'frames'"):
        zoo.load("kws_cnn", frames=5)
