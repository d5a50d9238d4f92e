"""The 3D U-Net's training recipe (`zoo train unet3d`): spheres and cubes in noise.

Each synthetic volume holds one to three spheres or axis-aligned cubes
(foreground intensity 1) on a background of 0, all under Gaussian noise, and
the label is the shapes' mask. The network trains on 32^3 volumes with
cross-entropy plus soft Dice, and is scored by Dice on held-out volumes of the
same kind. Forward and backward run on zoo's conv3d and transposed conv3d.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.registry import recipe_length
from zoo_medical.metrics import dice

SIZE, NOISE, CHANNELS = 32, 0.35, (8, 16, 32)
STEPS, BATCH_SIZE, TEST_VOLUMES = 150, 4, 8


def synthetic_volume(generator: torch.Generator, size: int = SIZE,
                     noise: float = NOISE) -> tuple[torch.Tensor, torch.Tensor]:
    """(image (1, size, size, size), label (size, size, size) long) with 1-3 spheres or cubes."""
    grid = torch.stack(torch.meshgrid(*[torch.arange(size, dtype=torch.float32)] * 3, indexing="ij"))
    label = torch.zeros(size, size, size, dtype=torch.bool)
    for _ in range(int(torch.randint(1, 4, (), generator=generator))):
        radius = 3 + 5 * torch.rand((), generator=generator)
        centre = radius + (size - 1 - 2 * radius) * torch.rand(3, 1, 1, 1, generator=generator)
        offset = (grid - centre).abs()
        cube = bool(torch.rand((), generator=generator) < 0.5)
        label |= (offset.amax(0) <= radius) if cube else (offset.square().sum(0) <= radius**2)
    image = label.float() + noise * torch.randn(label.shape, generator=generator)
    return image[None], label.long()


def batch(generator: torch.Generator, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = zip(*(synthetic_volume(generator) for _ in range(count)))
    return torch.stack(images), torch.stack(labels)


def soft_dice_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    foreground = logits.softmax(1)[:, 1]
    target = labels.float()
    return 1 - (2 * (foreground * target).sum() + 1) / (foreground.sum() + target.sum() + 1)


def train_unet3d(epochs: int | None = None, seed: int = 0,
                 log: Callable[[str], None] = print) -> tuple[nn.Module, dict[str, float]]:
    """Adam at 3e-3 for 150 steps (`epochs` counts steps of fresh volumes here), batches of 4."""
    steps = recipe_length(epochs, STEPS)
    torch.manual_seed(seed)
    data = torch.Generator().manual_seed(2 * seed + 1)  # odd seeds train, seed 0 makes the test volumes
    model = zoo.load("unet3d", channels=CHANNELS)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    start = time.perf_counter()
    model.train()
    for step in range(steps):
        images, labels = batch(data, BATCH_SIZE)
        logits = model(images)
        loss = F.cross_entropy(logits, labels) + soft_dice_loss(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 25 == 0 or step + 1 == steps:
            log(f"step {step + 1}/{steps}: loss {loss.item():.4f}")
    model.eval()
    images, labels = batch(torch.Generator().manual_seed(0), TEST_VOLUMES)
    with torch.no_grad():
        predictions = model(images).argmax(1)
    scores = [dice(p, t) for p, t in zip(predictions, labels)]
    return model, {"test_dice": sum(scores) / len(scores), "worst_test_dice": min(scores),
                   "seconds": time.perf_counter() - start}
