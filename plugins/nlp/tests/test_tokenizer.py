"""load_tokenizer reads a directory's tokenizer.json; its ids feed the models."""

import pytest
import torch

import zoo
from zoo_nlp.tokenizer import load_tokenizer

tokenizers = pytest.importorskip("tokenizers", reason="the tokenizer test needs tokenizers (zoo-nlp[tokenizers])")


def test_tokenizer_json_round_trip_into_gpt2(tmp_path):
    vocab = {"[UNK]": 0, "the": 1, "zoo": 2, "opens": 3, "today": 4}
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    loaded = load_tokenizer(tmp_path)
    ids = loaded.encode("the zoo opens today early").ids
    assert ids == [1, 2, 3, 4, 0]
    logits = zoo.load("gpt2-tiny")(torch.tensor([ids]))
    assert logits.shape == (1, 5, 1000)


def test_missing_tokenizer_json_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        load_tokenizer(tmp_path)
