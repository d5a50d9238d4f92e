"""The YOLO-style detector: box decoding against a float64 loop over cells, NMS and the whole predict
pipeline against torchvision.ops on the same boxes."""

import math

import pytest
import torch

import zoo
from zoo_vision.boxes import batched_nms, box_iou, nms
from zoo_vision.detector import STRIDE

ops = pytest.importorskip("torchvision.ops", reason="the NMS oracle is torchvision (zoo-vision[test])")


def random_boxes(count, seed, size=200.0):
    g = torch.Generator().manual_seed(seed)
    corner = torch.rand(count, 2, generator=g) * size
    extent = torch.rand(count, 2, generator=g) * size / 3 + 1
    return torch.cat((corner, corner + extent), dim=1), torch.randperm(count, generator=g).float() / count


@pytest.mark.parametrize("iou_threshold", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_nms_and_iou_match_torchvision(iou_threshold):
    boxes, scores = random_boxes(300, seed=int(iou_threshold * 10))
    labels = torch.randint(0, 4, (300,), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(box_iou(boxes, boxes[:50]), ops.box_iou(boxes, boxes[:50]))
    assert nms(boxes, scores, iou_threshold).tolist() == ops.nms(boxes, scores, iou_threshold).tolist()
    assert (batched_nms(boxes, scores, labels, iou_threshold).tolist()
            == ops.batched_nms(boxes, scores, labels, iou_threshold).tolist())
    assert nms(boxes[:0], scores[:0], iou_threshold).numel() == 0


def test_decode_matches_the_yolov2_formulas_cell_by_cell():
    model = zoo.load("yolo_resnet18", num_classes=3, img_size=64)
    raw = torch.randn(2, 5, 2, 2, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    boxes, scores, labels = model.decode(raw)
    # The declared anchors as the model holds them (float32), so the float64 formulas below agree to rounding.
    anchors = torch.tensor(zoo.info("yolo_resnet18").default_config["anchors"], dtype=torch.float32).tolist()
    sigmoid = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    for n in range(2):
        k = 0
        for a in range(5):
            for y in range(2):
                for x in range(2):
                    t = raw[n, a, y, x].tolist()
                    cx, cy = (x + sigmoid(t[0])) * STRIDE, (y + sigmoid(t[1])) * STRIDE
                    w, h = anchors[a][0] * math.exp(t[2]), anchors[a][1] * math.exp(t[3])
                    exps = [math.exp(v) for v in t[5:]]
                    best = max(range(3), key=lambda c: exps[c])
                    assert boxes[n, k].tolist() == pytest.approx([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
                    assert scores[n, k].item() == pytest.approx(sigmoid(t[4]) * exps[best] / sum(exps))
                    assert labels[n, k].item() == best
                    k += 1


def test_predict_equals_decode_threshold_clip_and_torchvision_nms():
    model = zoo.load("yolo_resnet18", num_classes=4, img_size=128)
    raw = torch.randn(2, 5, 4, 4, 9, generator=torch.Generator().manual_seed(3))
    raw[..., 4] += 2  # confident enough that many boxes overlap
    model.forward = lambda x: raw  # the head's output fixed: this test is about the post-processing
    images = torch.zeros(2, 3, 128, 128)
    detections = model.predict(images, score_threshold=0.3, iou_threshold=0.5, max_detections=20)
    boxes, scores, labels = model.decode(raw)
    for image, found in enumerate(detections):
        confident = scores[image] > 0.3
        b, s, c = boxes[image][confident].clamp(0, 128), scores[image][confident], labels[image][confident]
        kept = ops.batched_nms(b, s, c, 0.5)[:20]
        assert 0 < len(kept) and len(kept) < confident.sum()
        torch.testing.assert_close(found["boxes"], b[kept])
        torch.testing.assert_close(found["scores"], s[kept])
        assert found["labels"].tolist() == c[kept].tolist()


def test_detector_forward_backward_and_bad_inputs():
    model = zoo.load("yolo_resnet18", num_classes=2, img_size=64, in_chans=1).train()
    raw = model(torch.randn(2, 1, 64, 64))
    assert raw.shape == (2, 5, 2, 2, 7)
    raw.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="argument 'img_size'"):
        zoo.load("yolo_resnet18", img_size=100)
    with pytest.raises(ValueError, match="argument 'anchors'"):
        zoo.load("yolo_resnet18", anchors=((10, -1),))
    with pytest.raises(ValueError, match="argument 'x'"):
        model(torch.randn(1, 1, 70, 64))
    with pytest.raises(ValueError, match="argument 'iou_threshold'"):
        nms(*random_boxes(3, 0), 1.5)
    with pytest.raises(ValueError, match="argument 'boxes'"):
        nms(torch.zeros(3, 5), torch.zeros(3), 0.5)
