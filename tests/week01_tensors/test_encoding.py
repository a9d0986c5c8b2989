"""Hidden tests of week 1, encoding.py: one-hot encoding of class labels.

Expected values come from torch.nn.functional.one_hot at test time, for labels of several
leading shapes, a num_classes wider than the largest label, and empty batches. Out-of-range
labels are checked through a probe that returns the exception's name, since an exception cannot
cross the transport.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, rand_labels

pytestmark = pytest.mark.exercise("encoding")

C = 5


def _error_of(m, labels, num_classes):
    try:
        m.one_hot(labels, num_classes)
    except NotImplementedError:
        raise
    except Exception as error:
        return [type(error).__name__, str(error)]
    return None


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "The result has the labels' shape plus one last dim of size num_classes, with a single 1 per label, "
    "as a LongTensor like F.one_hot."
)
@pytest.mark.parametrize("shape", [(1,), (7,), (2, 3, 4)], ids=str)
def test_one_hot_matches_F_one_hot(student, shape):
    labels = rand_labels(*shape, num_classes=C, seed=1)
    want = F.one_hot(labels, C)
    assert_close(
        student.one_hot(labels, C),
        want,
        mistakes={"the classes are in the first dim: the one-hot axis is the LAST dim": want.movedim(-1, 0)},
    )


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "The width of each one-hot vector is num_classes, even when the largest class never occurs in this batch."
)
def test_one_hot_uses_num_classes_not_the_largest_label(student):
    labels = rand_labels(4, 3, num_classes=3, seed=2)
    want = F.one_hot(labels, 8)
    assert_close(
        student.one_hot(labels, 8),
        want,
        mistakes={"num_classes was ignored: the width came from the largest label": F.one_hot(labels)},
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "A label below 0 or at num_classes or above has no one-hot vector: raise ValueError instead of "
    "returning a row of zeros (or a row shifted by negative indexing)."
)
def test_one_hot_raises_value_error_for_labels_out_of_range(student):
    for labels, bad in (
        (torch.tensor([0, 2, C, 1]), C),
        (torch.tensor([3, -1, 0]), -1),
        (torch.tensor([[0, 1], [4, C + 3]]), C + 3),
    ):
        error = student.run(_error_of, labels, C)
        if error is None:
            fail(f"label {bad} with num_classes={C} gave no error, expected a ValueError")
        if error[0] != "ValueError":
            fail(f"label {bad} with num_classes={C} raised {error[0]}, expected a ValueError")
    error = student.run(_error_of, torch.tensor([0, C - 1, 0]), C)
    if error is not None:
        fail(f"labels 0 and {C - 1} with num_classes={C} raised {error[0]}: {error[1]}; both are valid")


@pytest.mark.points(2)
@pytest.mark.hint(
    "An empty batch of labels is valid and gives an empty result of shape S + (num_classes,). "
    "What is the min or max of zero numbers? Check the range in a way that works for no labels at all."
)
def test_one_hot_of_an_empty_batch_is_empty(student):
    for shape in ((0,), (3, 0)):
        labels = torch.zeros(shape, dtype=torch.long)
        error = student.run(_error_of, labels, C)
        if error is not None:
            fail(f"an empty batch of labels of shape {shape} raised {error[0]}: {error[1]}")
        assert_close(student.one_hot(labels, C), F.one_hot(labels, C), what=f"one_hot of labels of shape {shape}")


@pytest.mark.points(1)
@pytest.mark.hint("The docstring promises a LongTensor, like F.one_hot: int64, not int32, bool or float.")
def test_one_hot_returns_int64(student):
    labels = rand_labels(6, num_classes=4, seed=53)
    got = student.one_hot(labels, 4)
    if not isinstance(got, torch.Tensor):
        fail(f"one_hot must return a tensor, got {type(got).__name__}")
    if got.dtype != torch.int64:
        fail(f"one_hot returned {got.dtype} for {labels.dtype} labels; F.one_hot returns torch.int64 (a LongTensor)")
