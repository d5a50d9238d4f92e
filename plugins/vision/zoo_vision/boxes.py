"""Box utilities for the detector: IoU and (class-aware) non-maximum suppression in plain PyTorch.

Same contract as torchvision.ops.box_iou / nms / batched_nms (boxes x1, y1, x2, y2;
a box is dropped when its IoU with a higher-scoring kept box is above the
threshold; kept indices in decreasing score order), so zoo-vision needs no
torchvision at run time, and torchvision is the oracle in the tests.
"""

from __future__ import annotations

import torch


def _check_boxes(boxes: torch.Tensor, name: str) -> None:
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"argument '{name}' must be (K, 4) boxes (x1, y1, x2, y2), got shape {tuple(boxes.shape)}")


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """(K, 4) x (M, 4) -> (K, M) intersection over union."""
    _check_boxes(boxes1, "boxes1")
    _check_boxes(boxes2, "boxes2")
    top_left = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    intersection = (bottom_right - top_left).clamp(min=0).prod(-1)
    return intersection / (box_area(boxes1)[:, None] + box_area(boxes2)[None, :] - intersection)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes kept by greedy non-maximum suppression, highest score first."""
    _check_boxes(boxes, "boxes")
    if scores.shape != boxes.shape[:1]:
        raise ValueError(f"argument 'scores' must have shape ({boxes.shape[0]},), got {tuple(scores.shape)}")
    if not 0 <= iou_threshold <= 1:
        raise ValueError(f"argument 'iou_threshold' must be in [0, 1], got {iou_threshold}")
    order = scores.argsort(descending=True)
    # Row i: which later (lower-scoring) boxes box i suppresses. One matrix, then a cheap greedy pass.
    overlaps = (box_iou(boxes[order], boxes[order]) > iou_threshold).triu(diagonal=1).cpu()
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    kept = []
    for i in range(len(order)):
        if not suppressed[i]:
            kept.append(i)
            suppressed |= overlaps[i]
    return order[torch.tensor(kept, dtype=torch.long, device=order.device)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """NMS within each label only: boxes of different labels never suppress each other."""
    _check_boxes(boxes, "boxes")
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    # Shift each label's boxes to their own region of the plane, apart from every other label's.
    offsets = labels.to(boxes.dtype) * (boxes.max() - boxes.min() + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)
