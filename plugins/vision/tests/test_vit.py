"""zoo-vision's ViTs: the same logits as timm's and torchvision's ViT from their own checkpoints."""

import pytest
import torch

import zoo
from zoo.ops import backend

# Two blocks of ViT-Tiny's width on 32x32 images (4 patches): the architecture, quickly.
SMALL = {"dim": 192, "depth": 2, "num_heads": 3, "num_classes": 10, "img_size": 32}


def _same_logits(model, peer, x):
    with torch.no_grad():
        expected = peer.eval()(x)
        for mode in ("ext", "torch"):
            with backend(mode):
                torch.testing.assert_close(model(x), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["vit_tiny_patch16_224", "vit_small_patch16_224"])
def test_timm_checkpoint_gives_timm_logits(name, tmp_path):
    timm = pytest.importorskip("timm", reason="the timm equivalence test needs timm (zoo-vision[test])")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    peer = timm.create_model(name, pretrained=False, num_classes=10, img_size=32)
    save_file(peer.state_dict(), str(tmp_path / "vit.safetensors"))
    model = zoo.load(name, num_classes=10, img_size=32, weights=str(tmp_path / "vit.safetensors"))
    _same_logits(model, peer, torch.randn(2, 3, 32, 32))


def test_torchvision_checkpoint_gives_torchvision_logits(tmp_path):
    pytest.importorskip("torchvision", reason="the equivalence tests need torchvision (zoo-vision[test])")
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    peer = VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=3, hidden_dim=192, mlp_dim=768,
                             num_classes=10)
    for p in peer.parameters():  # torchvision zero-initialises the head and biases: make every tensor matter
        torch.nn.init.normal_(p, std=0.05)
    torch.save(peer.state_dict(), tmp_path / "vit_b_16.pth")
    model = zoo.load("vit_base_patch16_224", **SMALL, weights=str(tmp_path / "vit_b_16.pth"))
    _same_logits(model, peer, torch.randn(2, 3, 32, 32))


def test_features_head_reset_and_training_backward():
    model = zoo.load("vit_tiny_patch16_224", **SMALL, in_chans=1)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, 5, 192)  # class token + 2x2 patches
        torch.testing.assert_close(model.forward_head(features), model(x))
    model.reset_classifier(7)
    model.train()
    model(x).square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_bad_sizes_name_the_argument():
    with pytest.raises(ValueError, match="argument 'img_size'"):
        zoo.load("vit_tiny_patch16_224", img_size=40)
    model = zoo.load("vit_tiny_patch16_224", **SMALL)
    with pytest.raises(ValueError, match=r"argument 'x' must be \(N, C, 32, 32\)"):
        model(torch.randn(1, 3, 64, 64))
