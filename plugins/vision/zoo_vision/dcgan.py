"""The DCGAN generator and discriminator for 64x64 images (Radford et al. 2015), as in PyTorch's
DCGAN tutorial, on zoo's transposed and regular conv kernels.

Module names follow the tutorial (main.0, main.1, ...), so its checkpoints load as is.
Weights start as the paper prescribes: conv N(0, 0.02), batch-norm scale N(1, 0.02).
"""

import torch
from torch import nn

import zoo
from zoo.nn import Conv2d, ConvTranspose2d, channels_last


def _init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """Latent (N, nz, 1, 1) -> image (N, nc, 64, 64) in [-1, 1]."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3):
        super().__init__()
        widths = [ngf * 8, ngf * 4, ngf * 2, ngf]
        layers: list[nn.Module] = [ConvTranspose2d(nz, widths[0], 4, 1, 0, bias=False), nn.BatchNorm2d(widths[0]),
                                   nn.ReLU(True)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        _init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(channels_last(z))


class Discriminator(nn.Module):
    """Image (N, nc, 64, 64) -> probability (N,) that it is real."""

    def __init__(self, nc: int = 3, ndf: int = 64):
        super().__init__()
        widths = [ndf, ndf * 2, ndf * 4, ndf * 8]
        layers: list[nn.Module] = [Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]
        layers += [Conv2d(widths[-1], 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)
        _init(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (64, 64):
            raise ValueError(f"argument 'images' must be 64x64, got {tuple(images.shape[-2:])}")
        return self.main(channels_last(images)).flatten()


def _latents(config, batch_size):
    return (torch.randn(batch_size, config["nz"], 1, 1, generator=torch.Generator().manual_seed(0)),)


def _images(config, batch_size):
    return (torch.rand(batch_size, config["nc"], 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1,)


DCGAN_GENERATOR = zoo.ModelSpec(
    name="dcgan_generator",
    builder=Generator,
    domain="vision",
    task="image-generation",
    inputs=_latents,
    default_config={"nz": 100, "ngf": 64, "nc": 3},
    paper="https://arxiv.org/abs/1511.06434",
    ops=("conv_transpose",),
    num_params=3576704,
)

DCGAN_DISCRIMINATOR = zoo.ModelSpec(
    name="dcgan_discriminator",
    builder=Discriminator,
    domain="vision",
    task="image-discrimination",
    inputs=_images,
    default_config={"nc": 3, "ndf": 64},
    paper="https://arxiv.org/abs/1511.06434",
    ops=("conv",),
    num_params=2765568,
)
