"""A compact single-stage detector: YOLO-style grid head (Redmon & Farhadi, YOLO9000) on a ResNet-18.

Each cell of the backbone's stride-32 grid predicts, for each anchor, a box
(tx, ty, tw, th), an objectness logit and class logits. Decoding follows YOLOv2:
centre = (cell + sigmoid(t_xy)) * stride, size = anchor * exp(t_wh), score =
sigmoid(objectness) * softmax(classes)[best class]. `forward` returns the raw grid
(what a loss trains); `predict` decodes it, thresholds, and keeps the best box
of each overlapping group per class with NMS, returning torchvision's detection
format: one {"boxes", "scores", "labels"} dict per image, boxes x1, y1, x2, y2 in
input pixels. Backbone and head run on zoo's conv kernels, channels-last.
"""

from __future__ import annotations

import torch
from torch import nn

import zoo
from zoo.nn import Conv2d
from zoo_vision.boxes import batched_nms
from zoo_vision.common import image_inputs
from zoo_vision.resnet import ResNet

STRIDE = 32
# (width, height) in pixels: YOLOv2's five VOC anchors (given in grid cells there) times the stride.
VOC_ANCHORS = ((42.3, 55.4), (102.2, 128.3), (161.8, 259.4), (303.1, 154.9), (359.6, 320.2))


class GridDetector(nn.Module):
    def __init__(self, num_classes: int = 20, in_chans: int = 3, img_size: int = 416,
                 anchors: tuple[tuple[float, float], ...] = VOC_ANCHORS, head_width: int = 256):
        super().__init__()
        if img_size < STRIDE or img_size % STRIDE:
            raise ValueError(f"argument 'img_size' must be a positive multiple of {STRIDE}, got {img_size}")
        if not anchors or any(len(a) != 2 or min(a) <= 0 for a in anchors):
            raise ValueError(f"argument 'anchors' must be (width, height) pairs of positive pixels, got {anchors!r}")
        self.num_classes, self.img_size = num_classes, img_size
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32), persistent=False)
        self.backbone = ResNet("basic", (2, 2, 2, 2), in_chans=in_chans, img_size=img_size)
        del self.backbone.fc, self.backbone.avgpool  # only its feature map is used
        self.neck = nn.Sequential(Conv2d(self.backbone.num_features, head_width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(head_width), nn.LeakyReLU(0.1, inplace=True))
        self.head = Conv2d(head_width, len(anchors) * (5 + num_classes), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw predictions (N, anchors, H/32, W/32, 5 + num_classes): tx, ty, tw, th, objectness, class logits."""
        if x.dim() != 4 or x.shape[-1] % STRIDE or x.shape[-2] % STRIDE:
            raise ValueError(f"argument 'x' must be (N, C, H, W) images with H and W multiples of {STRIDE}, "
                             f"got shape {tuple(x.shape)}")
        out = self.head(self.neck(self.backbone.forward_features(x)))
        n, _, h, w = out.shape
        return out.view(n, len(self.anchors), 5 + self.num_classes, h, w).permute(0, 1, 3, 4, 2)

    def decode(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Raw grid -> (boxes (N, K, 4) x1 y1 x2 y2 in pixels, scores (N, K), labels (N, K)), K = anchors*H*W."""
        n, a, h, w, _ = raw.shape
        ys, xs = torch.meshgrid(torch.arange(h, device=raw.device), torch.arange(w, device=raw.device), indexing="ij")
        cells = torch.stack((xs, ys), dim=-1).to(raw.dtype)  # (H, W, 2) as (x, y)
        centres = (cells + raw[..., :2].sigmoid()) * STRIDE
        sizes = self.anchors.to(raw.dtype).view(1, a, 1, 1, 2) * raw[..., 2:4].exp()
        boxes = torch.cat((centres - sizes / 2, centres + sizes / 2), dim=-1)
        best, labels = raw[..., 5:].softmax(-1).max(-1)
        scores = raw[..., 4].sigmoid() * best
        return boxes.reshape(n, -1, 4), scores.reshape(n, -1), labels.reshape(n, -1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, score_threshold: float = 0.25, iou_threshold: float = 0.45,
                max_detections: int = 100) -> list[dict[str, torch.Tensor]]:
        """Detections per image, highest score first, boxes clipped to the image."""
        if not 0 <= score_threshold <= 1:
            raise ValueError(f"argument 'score_threshold' must be in [0, 1], got {score_threshold}")
        if max_detections < 1:
            raise ValueError(f"argument 'max_detections' must be positive, got {max_detections}")
        boxes, scores, labels = self.decode(self(x))
        height, width = x.shape[-2:]
        limits = torch.tensor([width, height, width, height], dtype=boxes.dtype, device=boxes.device)
        detections = []
        for b, s, c in zip(boxes, scores, labels):
            confident = s > score_threshold
            b, s, c = torch.minimum(b[confident].clamp(min=0), limits), s[confident], c[confident]
            kept = batched_nms(b, s, c, iou_threshold)[:max_detections]
            detections.append({"boxes": b[kept], "scores": s[kept], "labels": c[kept]})
        return detections


YOLO_RESNET18 = zoo.ModelSpec(
    name="yolo_resnet18",
    builder=GridDetector,
    domain="vision",
    task="object-detection",
    inputs=image_inputs,
    default_config={"num_classes": 20, "in_chans": 3, "img_size": 416, "anchors": VOC_ANCHORS, "head_width": 256},
    paper="https://arxiv.org/abs/1612.08242",
    ops=("conv",),
    num_params=12_388_797,
)
