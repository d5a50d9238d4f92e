"""What the ImageNet classifiers share: their example inputs and the preprocessing their weights expect."""

import torch

import zoo

# torchvision's IMAGENET1K_V1 transforms: resize 256, center crop 224, ImageNet statistics.
IMAGENET = zoo.Preprocessing(resize=256, crop=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def peer_run(name: str, peer: torch.nn.Module, label: str, batch_size: int) -> zoo.PeerRun:
    """`name` holding `peer`'s weights, both timed on the same batch of images (zoo bench models --peers),
    after a check that they give the same logits."""
    model = zoo.load(name)
    model.load_state_dict(peer.state_dict())
    return zoo.PeerRun.forward(label, model, peer.eval(), zoo.info(name).example_inputs(batch_size), batch_size)


def torchvision_peer(name: str):
    """ModelSpec.peer for `name` against torchvision's model of the same name, 224x224 images."""
    def peer(batch_size: int) -> zoo.PeerRun:
        import torchvision

        return peer_run(name, getattr(torchvision.models, name)(), "torchvision, 224x224", batch_size)
    return peer


def image_inputs(config, batch_size):
    """A batch of random images at the configured size and channels."""
    g = torch.Generator().manual_seed(0)
    return (torch.randn(batch_size, config["in_chans"], config["img_size"], config["img_size"], generator=g),)
