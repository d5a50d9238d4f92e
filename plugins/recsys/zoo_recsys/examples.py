"""Example inputs for the registry (tests, `zoo check`, `zoo bench`): user/item pairs and histories."""

import torch


def user_item_pairs(config, batch_size):
    """Random (users, items) id pairs."""
    g = torch.Generator().manual_seed(0)
    return (torch.randint(0, config["num_users"], (batch_size,), generator=g),
            torch.randint(0, config["num_items"], (batch_size,), generator=g))


def example_histories(config, batch_size, length: int = 20):
    """Right-padded random histories of 5 to `length` items."""
    g = torch.Generator().manual_seed(0)
    num_items = config["num_items"]
    histories = torch.randint(0, num_items, (batch_size, length), generator=g)
    lengths = torch.randint(5, length + 1, (batch_size,), generator=g)
    histories[torch.arange(length) >= lengths[:, None]] = num_items
    return (histories,)
