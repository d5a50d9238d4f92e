"""Characters in and out of CTC models: the vocabulary, greedy decoding, and the character error rate."""

from __future__ import annotations

from typing import Sequence

import torch

BLANK = 0
CHARACTERS = " 'abcdefghijklmnopqrstuvwxyz"


class Vocabulary:
    """Token 0 is CTC's blank; 1.. are the characters, in order. English letters, space and apostrophe
    by default; text is lower-cased, and a character outside the vocabulary is an error."""

    def __init__(self, characters: str = CHARACTERS):
        if len(set(characters)) != len(characters):
            raise ValueError(f"argument 'characters' repeats a character: {characters!r}")
        self.characters = characters
        self._ids = {c: i + 1 for i, c in enumerate(characters)}

    def __len__(self) -> int:
        return len(self.characters) + 1

    def encode(self, text: str) -> torch.Tensor:
        unknown = sorted(set(text.lower()) - set(self._ids))
        if unknown:
            raise ValueError(f"argument 'text' has characters outside the vocabulary: {''.join(unknown)!r}")
        return torch.tensor([self._ids[c] for c in text.lower()], dtype=torch.long)

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.characters[i - 1] for i in ids if i != BLANK)


def ctc_greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, vocabulary: Vocabulary) -> list[str]:
    """Best token per frame, repeats merged, blanks dropped: one string per utterance of (B, T, V)."""
    texts = []
    for best, length in zip(log_probs.argmax(-1), lengths.tolist()):
        best = best[:length]
        merged = best[torch.cat((torch.ones(1, dtype=torch.bool, device=best.device), best[1:] != best[:-1]))]
        texts.append(vocabulary.decode(merged.tolist()))
    return texts


def edit_distance(hypothesis: Sequence, reference: Sequence) -> int:
    """Levenshtein distance: insertions, deletions and substitutions, each costing 1."""
    previous = list(range(len(reference) + 1))
    for i, h in enumerate(hypothesis, 1):
        current = [i]
        for j, r in enumerate(reference, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (h != r)))
        previous = current
    return previous[-1]


def character_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Total character edits over total reference characters (corpus CER, as jiwer and ESPnet report it)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"arguments 'hypotheses' and 'references' must pair up, got {len(hypotheses)} and "
                         f"{len(references)}")
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("argument 'references' holds no characters")
    return sum(edit_distance(h, r) for h, r in zip(hypotheses, references)) / total
