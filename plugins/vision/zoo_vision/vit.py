"""Vision Transformer (Dosovitskiy et al. 2020), tiny/small/base with 16x16 patches, on zoo's kernels.

The patch embedding runs on zoo's conv, every block's attention on zoo's fused
attention and the MLP's bias + GELU on zoo's bias_act. Module names are timm's
(patch_embed.proj, cls_token, pos_embed, blocks.0.attn.qkv, head), so timm
checkpoints load as is; torchvision's vit_b_16 names are renamed by
`torchvision_vit_to_timm`. The class token's final state is what the head reads
(timm's global_pool="token", torchvision's only choice).
"""

from __future__ import annotations

import torch
from torch import nn

import zoo
from zoo.nn import Attention, Conv2d, Linear, LinearAct, channels_last
from zoo_vision.common import image_inputs, peer_run

# timm's augreg weights (vit_*_patch16_224.augreg*_in1k): crop 0.9 (resize 248), bicubic, mean = std = 0.5.
# torchvision's vit_b_16 weights expect the ImageNet statistics instead (zoo_vision.common.IMAGENET).
TIMM_AUGREG = zoo.Preprocessing(resize=248, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                                   interpolation="bicubic")


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.fc1 = LinearAct(dim, hidden, activation="gelu")
        self.drop = nn.Dropout(dropout)
        self.fc2 = Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.fc1(x))))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, dropout: float, attn_dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, dropout=attn_dropout)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Non-overlapping patch x patch squares, each projected to `dim` by one strided conv."""

    def __init__(self, in_chans: int, dim: int, patch_size: int):
        super().__init__()
        self.proj = Conv2d(in_chans, dim, patch_size, patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(channels_last(x)).flatten(2).transpose(1, 2)  # (N, patches, dim)


class VisionTransformer(nn.Module):
    def __init__(self, dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 patch_size: int = 16, num_classes: int = 1000, in_chans: int = 3, img_size: int = 224,
                 dropout: float = 0.0, attn_dropout: float = 0.0):
        super().__init__()
        if img_size < patch_size or img_size % patch_size:
            raise ValueError(f"argument 'img_size' must be a positive multiple of patch_size {patch_size}, "
                             f"got {img_size}")
        if dim % num_heads:
            raise ValueError(f"argument 'dim' ({dim}) must be divisible by 'num_heads' ({num_heads})")
        self.img_size, self.num_features = img_size, dim
        self.patch_embed = PatchEmbed(in_chans, dim, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + (img_size // patch_size) ** 2, dim))
        self.pos_drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(dim, num_heads, mlp_ratio, dropout, attn_dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = Linear(dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)  # timm's initialisation
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Every token's final state (N, 1 + patches, dim), class token first, as timm's forward_features."""
        if x.dim() != 4 or x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(f"argument 'x' must be (N, C, {self.img_size}, {self.img_size}) images (the model's "
                             f"img_size), got shape {tuple(x.shape)}")
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        return self.norm(self.blocks(self.pos_drop(x + self.pos_embed)))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features[:, 0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh head with `num_classes` outputs, for transfer learning."""
        self.head = Linear(self.num_features, num_classes)


# torchvision name -> timm name, per block (encoder.layers.encoder_layer_{i}.*) and outside the blocks.
_TORCHVISION_BLOCK = {"ln_1": "norm1", "self_attention.in_proj_weight": "attn.qkv.weight",
                      "self_attention.in_proj_bias": "attn.qkv.bias", "self_attention.out_proj": "attn.proj",
                      "ln_2": "norm2", "mlp.0": "mlp.fc1", "mlp.3": "mlp.fc2",
                      "mlp.linear_1": "mlp.fc1", "mlp.linear_2": "mlp.fc2"}  # (mlp.linear_*: torchvision < 0.13)
_TORCHVISION_TOP = {"class_token": "cls_token", "conv_proj": "patch_embed.proj", "encoder.pos_embedding": "pos_embed",
                    "encoder.ln": "norm", "heads.head": "head"}


def torchvision_vit_to_timm(state_dict: dict) -> dict:
    """torchvision's VisionTransformer names (class_token, encoder.layers.encoder_layer_0.ln_1) -> timm's."""
    if "class_token" not in state_dict:
        return state_dict  # timm's (or ours) already
    prefix = "encoder.layers.encoder_layer_"
    renamed = {}
    for key, value in state_dict.items():
        table = _TORCHVISION_TOP
        if key.startswith(prefix):
            index, _, key = key[len(prefix):].partition(".")
            table = {k: f"blocks.{index}.{v}" for k, v in _TORCHVISION_BLOCK.items()}
        old = next((k for k in table if key == k or key.startswith(k + ".")), None)
        if old is None:
            raise ValueError(f"argument 'weights': unexpected torchvision ViT tensor {key!r}")
        renamed[table[old] + key[len(old):]] = value
    return renamed


def timm_vit_base(batch_size: int) -> zoo.PeerRun:
    """vit_base_patch16_224 vs timm's, same weights, 224x224 images."""
    import timm

    return peer_run("vit_base_patch16_224", timm.create_model("vit_base_patch16_224", pretrained=False),
                    "timm, 224x224", batch_size)


def _spec(size: str, dim: int, num_heads: int, num_params: int, peer=None) -> zoo.ModelSpec:
    return zoo.ModelSpec(
        name=f"vit_{size}_patch16_224",
        builder=VisionTransformer,
        domain="vision",
        task="image-classification",
        inputs=image_inputs,
        default_config={"dim": dim, "depth": 12, "num_heads": num_heads, "mlp_ratio": 4.0, "patch_size": 16,
                        "num_classes": 1000, "in_chans": 3, "img_size": 224, "dropout": 0.0, "attn_dropout": 0.0},
        paper="https://arxiv.org/abs/2010.11929",
        ops=("conv", "attention", "linear"),
        num_params=num_params,
        convert=torchvision_vit_to_timm,
        preprocessing=TIMM_AUGREG,
        peer=peer,
    )


VITS = [_spec("tiny", 192, 3, 5717416), _spec("small", 384, 6, 22050664), _spec("base", 768, 12, 86567656, peer=timm_vit_base)]
