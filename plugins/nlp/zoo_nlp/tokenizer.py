"""Tokenizers for the Hugging Face checkpoints: the `tokenizers` library reading the directory's tokenizer.json.

A save_pretrained directory with a fast tokenizer holds tokenizer.json; that one
file is all that is needed (no transformers, no download). Older directories
with only vocab.txt / merges.txt / spiece.model must first be converted, e.g.
once with transformers: AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR).
"""

from __future__ import annotations

from pathlib import Path

TOKENIZER_FILE = "tokenizer.json"


def load_tokenizer(directory: str | Path):
    """A tokenizers.Tokenizer from DIR/tokenizer.json: .encode(text).ids, .decode(ids), .encode_batch(texts)."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ImportError("tokenizing needs the tokenizers library: pip install 'zoo-nlp[tokenizers]'") from None
    path = Path(directory) / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"argument 'directory': no {TOKENIZER_FILE} in {str(directory)!r}; convert the "
                                f"tokenizer once with transformers (AutoTokenizer.from_pretrained(DIR)"
                                f".save_pretrained(DIR)) to write it")
    return Tokenizer.from_file(str(path))
