"""Example inputs for the registry (tests, `zoo check`, `zoo bench`) of the transformer language models."""

import torch


def random_tokens(config, batch_size):
    """A batch of 16 random token ids from the model's vocabulary."""
    g = torch.Generator().manual_seed(0)
    return (torch.randint(0, config["vocab_size"], (batch_size, 16), generator=g),)
