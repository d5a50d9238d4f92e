"""zoo-vision's ImageNet classifiers: torchvision equivalence with the same weights, checkpoint import
(torchvision and timm names), transfer-learning hooks and the declared preprocessing."""

import pytest
import torch

import zoo
from zoo.ops import backend

torchvision = pytest.importorskip("torchvision", reason="the equivalence tests need torchvision (zoo-vision[test])")

# (zoo name, torchvision builder, image size): small images keep the tests quick; every model pools adaptively.
PEERS = [("resnet18", "resnet18", 64), ("resnet50", "resnet50", 64), ("vgg11", "vgg11", 32),
         ("vgg11_bn", "vgg11_bn", 32), ("alexnet", "alexnet", 63)]


def _torchvision_model(builder):
    torch.manual_seed(0)
    return getattr(torchvision.models, builder)(weights=None, num_classes=10).eval()


@pytest.mark.parametrize("name, builder, size", PEERS)
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_torchvision_checkpoint_gives_torchvision_logits(name, builder, size, suffix, tmp_path):
    peer = _torchvision_model(builder)
    path = tmp_path / f"{builder}{suffix}"
    if suffix == ".pth":
        torch.save(peer.state_dict(), path)
    else:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in peer.state_dict().items()}, str(path))
    model = zoo.load(name, num_classes=10, img_size=size, weights=str(path))
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = peer(x)
        with backend("ext"):
            torch.testing.assert_close(model(x), expected, atol=1e-4, rtol=1e-4)
        with backend("ext"):
            channels_last = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
        torch.testing.assert_close(channels_last, expected, atol=1e-4, rtol=1e-4)


def test_timm_vgg_names_are_converted(tmp_path):
    """timm's VGG keeps features.* but holds the classifier as pre_logits convs and head.fc."""
    peer = _torchvision_model("vgg11")
    timm_style = {}
    for key, value in peer.state_dict().items():
        layer, _, param = key.partition(".")[2].partition(".") if key.startswith("classifier.") else ("", "", "")
        if key.startswith("classifier."):
            new = {"0": "pre_logits.fc1.", "3": "pre_logits.fc2.", "6": "head.fc."}[layer] + param
            if layer == "0" and param == "weight":
                value = value.view(4096, 512, 7, 7)
            elif layer == "3" and param == "weight":
                value = value.view(4096, 4096, 1, 1)
            timm_style[new] = value
        else:
            timm_style[key] = value
    path = tmp_path / "vgg11_timm.pth"
    torch.save(timm_style, path)
    model = zoo.load("vgg11", num_classes=10, img_size=32, weights=str(path))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), peer(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "vgg11", "alexnet"])
def test_features_head_and_reset_classifier(name):
    size = 63 if name == "alexnet" else 64
    model = zoo.load(name, num_classes=4, img_size=size, in_chans=1)
    x = torch.randn(2, 1, size, size)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.dim() == 4 and features.shape[0] == 2
        torch.testing.assert_close(model.forward_head(features), model(x))
        model.reset_classifier(7)
        assert model(x).shape == (2, 7)


def test_bad_config_names_the_argument():
    with pytest.raises(ValueError, match="argument 'img_size'"):
        zoo.load("resnet18", img_size=16)
    with pytest.raises(ValueError, match="argument 'depth'"):
        zoo.load("vgg11", depth=12)
    with pytest.raises(ValueError, match="argument 'block'"):
        zoo.load("resnet18", block="wide")


def test_preprocessing_matches_torchvision_transforms():
    """zoo.transforms(name) against torchvision's IMAGENET1K_V1 transforms on the same uint8 image."""
    from torchvision.transforms import v2

    image = torch.randint(0, 256, (3, 300, 371), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    expected = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Resize(256, antialias=True), v2.CenterCrop(224),
                           v2.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])(image)
    ours = zoo.transforms("resnet50")(image)
    assert ours.shape == (3, 224, 224)
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)
    assert zoo.transforms("resnet50")(image.unsqueeze(0)).shape == (1, 3, 224, 224)
    with pytest.raises(ValueError, match="declares no preprocessing"):
        zoo.transforms("unet2d")



@pytest.mark.parametrize("name", ["resnet50", "vgg11_bn", "alexnet", "vit_base_patch16_224"])
def test_bench_peers_hold_the_same_weights_and_agree(name):
    """zoo bench models --peers: the peer library's model, our model with its weights, checked equal on build."""
    if name.startswith("vit"):
        pytest.importorskip("timm", reason="the ViT peer is timm (zoo-vision[test])")
    run = zoo.info(name).peer(1)
    assert run.unit == "samples/s" and run.units == 1
    torch.testing.assert_close(run.ours(), run.theirs(), atol=1e-3, rtol=1e-3)
