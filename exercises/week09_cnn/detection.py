"""Object detection's two workhorses: intersection over union of boxes, and non-maximum suppression.

A box is (x1, y1, x2, y2): its top-left and bottom-right corners, x1 <= x2 and y1 <= y2, in
(float) pixel coordinates; its area is (x2 - x1)·(y2 - y1). The intersection of two boxes is the box
(max x1, max y1, min x2, min y2), empty (area 0) when those corners cross.
IoU = area(intersection) / area(union), with area(union) = area(a) + area(b) - area(intersection):
1 for identical boxes, 0 for disjoint ones. Two zero-area boxes have a union of 0: their IoU is
defined as 0 (never NaN).

A detector proposes many overlapping boxes for one object. Non-maximum suppression keeps the
best: visit the boxes by decreasing score (equal scores: the lower index first); keep a box
unless its IoU with an already kept box is strictly greater than iou_threshold.
"""

from __future__ import annotations

import torch


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every pair: a (N, 4), b (M, 4) -> (N, M), vectorised (broadcast a[:, None] against b[None])."""
    # TODO: the areas, the intersection's corners by broadcasting, its width and height clamped at 0.
    # TODO: divide where the union is positive; 0 elsewhere, with no NaN computed on the way.
    raise NotImplementedError("box_iou() is not implemented yet")


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the kept boxes, by decreasing score: a LongTensor (K,).

    boxes: (N, 4); scores: (N,). A box is dropped when its IoU with a kept box is > iou_threshold.
    """
    # TODO: a stable descending sort of the scores; the IoU of every pair once (box_iou).
    # TODO: one pass over the sorted boxes: keep a box unless it is suppressed, and a kept box
    #       suppresses every box that overlaps it by more than the threshold.
    raise NotImplementedError("nms() is not implemented yet")
