"""The character vocabulary, greedy CTC decoding and the character error rate on hand-made cases."""

import pytest
import torch

from zoo_speech.text import BLANK, Vocabulary, character_error_rate, ctc_greedy_decode, edit_distance


def test_vocabulary_round_trip_and_unknown_characters():
    vocabulary = Vocabulary()
    ids = vocabulary.encode("Don't stop")
    assert len(vocabulary) == 29 and BLANK not in ids.tolist()
    assert vocabulary.decode(ids.tolist()) == "don't stop"
    with pytest.raises(ValueError, match="outside the vocabulary: '!1'"):
        vocabulary.encode("no 1!")


def test_greedy_decoding_merges_repeats_and_drops_blanks():
    vocabulary = Vocabulary("ab")
    a, b = 1, 2
    frames = [[a, a, BLANK, a, b, b, BLANK, BLANK, b], [b, BLANK, BLANK, BLANK, BLANK, a, a, a, a]]
    log_probs = torch.nn.functional.one_hot(torch.tensor(frames), 3).float().log()
    assert ctc_greedy_decode(log_probs, torch.tensor([9, 4]), vocabulary) == ["aabb", "b"]  # 2nd: 4 frames only


def test_edit_distance_and_cer():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "abc") == 0
    assert character_error_rate(["abd", "xy"], ["abc", "x"]) == pytest.approx((1 + 1) / 4)
    with pytest.raises(ValueError, match="must pair up"):
        character_error_rate(["a"], [])
