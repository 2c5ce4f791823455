"""Detection loss for the demo detector: centre-sampling assignment, GIoU, BCE.

Assignment (no learnable matching, so it is stable from step one): an anchor is positive for
a box when the box's size suits the anchor's level, the anchor lies within 1.5 strides of the
box centre and its cell touches the box. Each box also gets its nearest anchor on its best
level, so tiny boxes are never left without one. An anchor claimed twice goes to the smaller box.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edge_ai_ros.models.detector import anchor_points, decode_raw

# box max side (input pixels) each stride is responsible for; ranges overlap on purpose
LEVEL_RANGES = {8: (0.0, 64.0), 16: (32.0, 128.0), 32: (96.0, 1e9)}
CENTER_RADIUS = 1.5
BOX_WEIGHT = 5.0


def _xywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    return torch.cat([b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2], dim=-1)


def giou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(IoU, GIoU) of matching rows of x1y1x2y2 boxes a [M, 4] and b [M, 4]."""
    lt, rb = torch.max(a[:, :2], b[:, :2]), torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(dim=1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(dim=1)
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    hull = (torch.max(a[:, 2:], b[:, 2:]) - torch.min(a[:, :2], b[:, :2])).clamp(min=0).prod(dim=1) + 1e-7
    return iou, iou - (hull - union) / hull


def assign(points: torch.Tensor, strides: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Index of the assigned box per anchor [B, A] (-1 = background); targets [B, K, 5] padded with -1."""
    boxes, valid = targets[..., 1:5], targets[..., 0] >= 0  # [B, K, 4], [B, K]
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2
    size = (boxes[..., 2:] - boxes[..., :2]).clamp(min=1.0)
    side = size.max(dim=-1).values  # [B, K]
    px, py, s = points[None, :, None, 0], points[None, :, None, 1], strides[None, :, None, 0]  # [1, A, 1]
    lo = torch.zeros_like(strides[:, 0])
    hi = torch.zeros_like(strides[:, 0])
    for stride, (low, high) in LEVEL_RANGES.items():
        lo[strides[:, 0] == stride], hi[strides[:, 0] == stride] = low, high
    level_ok = (side[:, None, :] >= lo[None, :, None]) & (side[:, None, :] <= hi[None, :, None])
    near = ((px - centre[:, None, :, 0]).abs() < CENTER_RADIUS * s) & ((py - centre[:, None, :, 1]).abs() < CENTER_RADIUS * s)
    touch = ((px > boxes[:, None, :, 0] - s / 2) & (px < boxes[:, None, :, 2] + s / 2)
             & (py > boxes[:, None, :, 1] - s / 2) & (py < boxes[:, None, :, 3] + s / 2))
    positive = level_ok & near & touch & valid[:, None, :]  # [B, A, K]
    # guarantee: the nearest anchor of the finest suitable level
    dist = (px - centre[:, None, :, 0]).abs() + (py - centre[:, None, :, 1]).abs() + 1e6 * (~level_ok)
    nearest = dist.argmin(dim=1)  # [B, K]
    positive.scatter_(1, nearest[:, None, :], valid[:, None, :] | positive.gather(1, nearest[:, None, :]))
    area = size.prod(dim=-1)[:, None, :].expand_as(positive)
    cost = torch.where(positive, area, torch.full_like(area, float("inf")))
    best_cost, best = cost.min(dim=2)
    return torch.where(torch.isfinite(best_cost), best, torch.full_like(best, -1))


def detection_loss(raw: list[torch.Tensor], targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts for raw level outputs (``Detector.forward_raw``) and padded targets."""
    boxes, obj_logit, cls_logit = decode_raw(raw)
    points, strides = anchor_points(raw)
    with torch.no_grad():
        matched = assign(points, strides, targets)  # [B, A]
    pos = matched >= 0
    num_pos = max(1.0, float(pos.sum()))
    gt = torch.gather(targets, 1, matched.clamp(min=0)[..., None].expand(-1, -1, 5))  # [B, A, 5]
    pred_xyxy = _xywh_to_xyxy(boxes[pos])
    iou, g = giou(pred_xyxy, gt[pos][:, 1:5])
    box_loss = (1.0 - g).sum() / num_pos
    obj_loss = F.binary_cross_entropy_with_logits(obj_logit, pos.float(), reduction="sum") / num_pos
    cls_target = F.one_hot(gt[pos][:, 0].long(), cls_logit.shape[-1]).float()
    cls_loss = F.binary_cross_entropy_with_logits(cls_logit[pos], cls_target, reduction="sum") / num_pos
    total = BOX_WEIGHT * box_loss + obj_loss + cls_loss
    parts = {"box": float(box_loss.detach()), "obj": float(obj_loss.detach()), "cls": float(cls_loss.detach()),
             "iou": float(iou.detach().mean()) if iou.numel() else 0.0, "pos": num_pos}
    return total, parts
