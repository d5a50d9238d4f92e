"""What the transformer language models share for the registry: example inputs (tests, `zoo check`,
`zoo bench`) and the transformers twin that `zoo bench models --peers` times them against."""

import torch

import zoo


def random_tokens(config, batch_size):
    """A batch of 16 random token ids from the model's vocabulary."""
    g = torch.Generator().manual_seed(0)
    return (torch.randint(0, config["vocab_size"], (batch_size, 16), generator=g),)


def transformers_twin(name: str, architecture: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(our `name`, transformers' `architecture` with its default config), holding the same random weights
    (ours converted from it by the ModelSpec's `convert`), both in eval mode."""
    import transformers

    torch.manual_seed(0)
    peer_class = getattr(transformers, architecture)
    peer = peer_class(peer_class.config_class()).eval()
    model = zoo.load(name)
    model.load_state_dict(zoo.info(name).convert(peer.state_dict()))
    return model, peer
