"""Hidden tests of week 9, detection.py (★): box IoU and non-maximum suppression.

torchvision is not a dependency of the course, so the expected values come from brute force
written here: the IoU of each pair by plain arithmetic, and greedy NMS by scanning the boxes in a
stable descending order of scores. Boxes are seeded and (x1, y1, x2, y2); some are designed with
zero area, exact ties of scores and an IoU exactly at the threshold.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import assert_close, fail, generator

pytestmark = pytest.mark.exercise("detection")


def random_boxes(n, seed, size=10.0):
    g = generator(seed)
    corner = torch.rand(n, 2, generator=g, dtype=torch.float64) * size
    extent = torch.rand(n, 2, generator=g, dtype=torch.float64) * size / 2
    return torch.cat([corner, corner + extent], dim=1)


def iou_one(p, q):
    """IoU of two boxes by plain arithmetic (0 when the union is empty)."""
    ix = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
    iy = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    overlap = ix * iy
    total = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - overlap
    return overlap / total if total > 0 else 0.0


def iou_brute(a, b):
    rows = [[iou_one(p, q) for q in b.tolist()] for p in a.tolist()]
    return torch.tensor(rows, dtype=torch.float64).reshape(len(a), len(b))


def greedy_nms(boxes, scores, threshold):
    """Scan by decreasing score (ties: lower index first), drop what overlaps a kept box by more than the threshold."""
    candidates = sorted(range(len(boxes)), key=lambda i: (-float(scores[i]), i))
    kept = []
    for i in candidates:
        if all(iou_one(boxes[i].tolist(), boxes[j].tolist()) <= threshold for j in kept):
            kept.append(i)
    return torch.tensor(kept, dtype=torch.long)


# --- box_iou ------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Broadcast a[:, None] against b[None]: the intersection is (max x1, max y1, min x2, min y2), its sides clamped at 0.")
@pytest.mark.parametrize("n, m", [(1, 1), (7, 5), (3, 12)], ids=str)
def test_box_iou_matches_brute_force(student, n, m):
    a, b = random_boxes(n, 1), random_boxes(m, 2)
    want = iou_brute(a, b)
    assert_close(student.box_iou(a, b), want, what=f"box_iou of {n} and {m} boxes")


@pytest.mark.points(1)
@pytest.mark.hint("Identical boxes overlap completely (IoU 1); disjoint or merely touching boxes do not overlap (IoU 0).")
def test_box_iou_of_identical_disjoint_and_touching_boxes(student):
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 4.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0], [2.0, 0.0, 4.0, 2.0], [3.0, 5.0, 4.0, 6.0]], dtype=torch.float64)
    want = iou_brute(a, b)
    assert_close(
        student.box_iou(a, b),
        want,
        what="box_iou",
        mistakes={"disjoint boxes got a non-zero IoU: clamp the intersection's sides at 0": _unclamped(a, b)},
    )


def _unclamped(a, b):
    rows = []
    for p in a.tolist():
        row = []
        for q in b.tolist():
            w, h = min(p[2], q[2]) - max(p[0], q[0]), min(p[3], q[3]) - max(p[1], q[1])
            inter = w * h
            whole = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
            row.append(inter / whole if whole > 0 else 0.0)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float64)


@pytest.mark.points(2)
@pytest.mark.hint("Two zero-area boxes have an empty union: 0/0 is NaN, so return 0 where the union is 0, without dividing by 0.")
def test_box_iou_of_zero_area_boxes_is_zero_not_nan(student):
    a = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 0.0]], dtype=torch.float64)
    assert_close(student.box_iou(a, b), iou_brute(a, b), what="box_iou of zero-area boxes")


@pytest.mark.points(1)
@pytest.mark.hint("With no boxes on one side the result is an empty (0, M) or (N, 0) tensor.")
def test_box_iou_with_no_boxes(student):
    a, b = random_boxes(0, 3), random_boxes(4, 4)
    assert_close(student.box_iou(a, b), torch.zeros(0, 4, dtype=torch.float64), what="box_iou of 0 and 4 boxes")
    assert_close(student.box_iou(b, a), torch.zeros(4, 0, dtype=torch.float64), what="box_iou of 4 and 0 boxes")


# --- nms ----------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Visit the boxes by decreasing score; keep one unless it overlaps an already KEPT box by more than the threshold."
)
@pytest.mark.parametrize("n, threshold", [(1, 0.5), (12, 0.3), (30, 0.5), (30, 0.0)], ids=str)
def test_nms_matches_greedy_brute_force(student, n, threshold):
    boxes = random_boxes(n, 5 + n)
    scores = torch.rand(n, generator=generator(6 + n), dtype=torch.float64)
    want = greedy_nms(boxes, scores, threshold)
    got = student.nms(boxes, scores, threshold)
    assert_close(got, want, what=f"nms of {n} boxes at threshold {threshold}")


@pytest.mark.points(2)
@pytest.mark.hint("A box suppressed by a kept box cannot suppress anything itself: only kept boxes suppress.")
def test_nms_suppressed_boxes_do_not_suppress(student):
    boxes = torch.tensor([[0.0, 0.0, 4.0, 1.0], [2.0, 0.0, 6.0, 1.0], [4.0, 0.0, 8.0, 1.0]], dtype=torch.float64)
    scores = torch.tensor([0.9, 0.8, 0.7], dtype=torch.float64)  # IoU(0, 1) = IoU(1, 2) = 1/3, IoU(0, 2) = 0
    got = student.nms(boxes, scores, 0.3)
    assert_close(
        got,
        torch.tensor([0, 2]),
        what="nms of a chain of overlapping boxes",
        mistakes={"box 2 was dropped by box 1, which had been suppressed": torch.tensor([0])},
    )


@pytest.mark.points(2)
@pytest.mark.hint("Equal scores keep their index order (a stable sort), and an IoU equal to the threshold does not suppress.")
def test_nms_ties_are_stable_and_the_threshold_is_strict(student):
    # IoU(0, 1) = 2/4 = 0.5 exactly; boxes 2 and 3 are far away with tied scores
    boxes = torch.tensor(
        [[0.0, 0.0, 4.0, 1.0], [0.0, 0.0, 2.0, 1.0], [10.0, 10.0, 11.0, 11.0], [20.0, 20.0, 21.0, 21.0]],
        dtype=torch.float64,
    )
    scores = torch.tensor([0.5, 0.5, 0.7, 0.7], dtype=torch.float64)
    got = student.nms(boxes, scores, 0.5)
    assert_close(
        got,
        torch.tensor([2, 3, 0, 1]),
        what="nms with tied scores and an IoU at the threshold",
        mistakes={
            "an IoU equal to the threshold suppressed a box: only IoU > threshold suppresses": torch.tensor([2, 3, 0]),
            "tied scores were not kept in index order (use a stable sort)": torch.tensor([3, 2, 1, 0]),
        },
    )
    if isinstance(got, torch.Tensor) and got.dtype != torch.int64:
        fail(f"nms returned dtype {got.dtype}; expected a LongTensor (int64) of indices")


@pytest.mark.points(1)
@pytest.mark.hint("No boxes, nothing kept: an empty LongTensor.")
def test_nms_of_no_boxes_is_an_empty_long_tensor(student):
    got = student.nms(torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, dtype=torch.float64), 0.5)
    assert_close(got, torch.zeros(0, dtype=torch.long), what="nms of no boxes")
