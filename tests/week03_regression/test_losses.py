"""Hidden tests of week 3, losses.py: the mean squared error and its hand-written gradient.

Expected values are F.mse_loss and its autograd gradient, computed at test time on seeded inputs
of several shapes (a single element, a batch of rows, an extra leading dim). Shape checks go
through a probe, because a ValueError raised by the learner's code is the answer, not a failure.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("losses")

SHAPES = [(1,), (7, 3), (2, 3, 4)]


def pair(shape: tuple[int, ...], seed: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """A prediction and a target of the same shape."""
    return randn(*shape, seed=seed, dtype=dtype), randn(*shape, seed=seed + 100, dtype=dtype, scale=2.0)


def autograd_mse_grad(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d F.mse_loss(pred, target) / d pred, by autograd."""
    leaf = pred.clone().requires_grad_()
    F.mse_loss(leaf, target).backward()
    return leaf.grad


def _outcome(m, name, pred, target):
    """What m.<name>(pred, target) does: the exception it raises, or the shape of what it returns."""
    try:
        out = getattr(m, name)(pred, target)
    except NotImplementedError:
        raise
    except ValueError:
        return {"raised": "ValueError"}
    except Exception as error:
        return {"raised": type(error).__name__}
    shape = list(out.shape) if isinstance(out, torch.Tensor) else None
    return {"raised": None, "shape": shape, "value": out if isinstance(out, torch.Tensor) else None}


def _mse_autograd(m, pred, target):
    leaf = pred.clone().requires_grad_()
    loss = m.mse(leaf, target)
    if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
        return {"loss": loss if isinstance(loss, torch.Tensor) else None, "grad": None}
    loss.backward()
    return {"loss": loss.detach(), "grad": leaf.grad}


# --- mse ----------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("Square the differences element by element, then average them over every element into one number.")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_mse_matches_F_mse_loss(student, shape):
    pred, target = pair(shape, seed=1)
    want = F.mse_loss(pred, target)
    mistakes = {}
    if pred.numel() > 1:  # a single element's sum is its mean, and its MAE |d| and RMSE sqrt(d²) are one number
        mistakes["sum instead of mean: the loss must not grow with the batch"] = F.mse_loss(pred, target, reduction="sum")
        mistakes["the differences were not squared (that is the mean absolute error)"] = F.l1_loss(pred, target)
        mistakes["the square root was taken (that is the RMSE, not the MSE)"] = want.sqrt()
    else:
        mistakes["|d| instead of d²: the difference was not squared, or the square root was taken"] = want.sqrt()
    if len(shape) > 1:
        mistakes["one loss per row: average over every element, down to a single number"] = (
            ((pred - target) ** 2).reshape(shape[0], -1).mean(1)
        )
    assert_close(student.mse(pred, target), want, mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint("The stub asks for the mean over examples: one example and 17 copies of it must give the same loss.")
def test_mse_is_a_mean_over_the_batch_not_a_sum(student):
    pred, target = pair((1, 3), seed=2)
    one = student.mse(pred, target)
    many = student.mse(pred.repeat(17, 1), target.repeat(17, 1))
    if isinstance(one, torch.Tensor) and isinstance(many, torch.Tensor) and one.numel() == many.numel() == 1:
        if math.isclose(many.item(), 17 * one.item(), rel_tol=1e-9) and one.item() != 0:
            fail("loss scales with batch size (17 copies of one example give 17× its loss): sum instead of mean")
    assert_close(many, one, what="mse of 17 copies of one example compared with mse of that example")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Subtracting a (N,) tensor from a (N, 1) tensor does not fail: it broadcasts to (N, N). "
    "Compare the shapes yourself and raise ValueError when they differ."
)
@pytest.mark.parametrize("order", ["(N, 1) - (N,)", "(N,) - (N, 1)"])
@pytest.mark.parametrize("name", ["mse", "mse_grad"])
def test_mse_and_mse_grad_refuse_N_1_against_N_instead_of_broadcasting(student, name, order):
    column, flat = randn(5, 1, seed=3), randn(5, seed=4)
    pred, target = (column, flat) if order.startswith("(N, 1)") else (flat, column)
    got = student.run(_outcome, name, pred, target)
    if got["raised"] == "ValueError":
        return
    if got["raised"] is not None:
        fail(f"{name}(pred, target) with shapes {order} raised {got['raised']}, expected a ValueError")
    if name == "mse" and got["value"] is not None and torch.allclose(got["value"], ((pred - target) ** 2).mean()):
        fail(
            f"{name} with shapes {order}: the shapes broadcast to (5, 5) and the loss compared every prediction "
            "with every target, instead of raising ValueError"
        )
    if got["shape"] == [5, 5]:
        fail(
            f"{name} with shapes {order}: intermediate shape (5, 5), your arrays broadcast instead of raising ValueError"
        )
    result = "a single value" if got["shape"] == [] else f"a result of shape {tuple(got['shape'])}"
    fail(f"{name} with shapes {order} returned {result} instead of raising ValueError")


@pytest.mark.points(1)
@pytest.mark.hint("The mean of no elements is 0/0. Refuse an empty batch with a ValueError before computing anything.")
@pytest.mark.parametrize("name", ["mse", "mse_grad"])
def test_mse_and_mse_grad_raise_value_error_on_an_empty_batch(student, name):
    for shape in ((0,), (0, 3)):
        empty = torch.zeros(shape, dtype=torch.float64)
        got = student.run(_outcome, name, empty, empty.clone())
        if got["raised"] == "ValueError":
            continue
        if got["raised"] is not None:
            fail(f"{name} on an empty batch of shape {shape} raised {got['raised']}, expected a ValueError")
        value = got["value"]
        if value is not None and value.numel() == 1 and torch.isnan(value).all():
            fail(f"{name}: an empty batch returned NaN (0/0) instead of raising ValueError")
        fail(f"{name}: an empty batch of shape {shape} returned a result instead of raising ValueError")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Build the loss from torch operations on pred (no .item(), no NumPy, no .detach()) so autograd can "
    "differentiate it, and keep pred's dtype."
)
def test_mse_is_differentiable_and_keeps_float32(student):
    pred, target = pair((6, 2), seed=5, dtype=torch.float32)
    got = student.run(_mse_autograd, pred, target)
    want = F.mse_loss(pred, target)
    if got["loss"] is None:
        fail("mse() must return a tensor")
    if got["loss"].dtype != torch.float32:
        fail(f"mse of float32 inputs must stay float32, got {got['loss'].dtype}")
    assert_close(got["loss"], want, what="mse in float32")
    if got["grad"] is None:
        fail("mse(pred, target) does not depend on pred through autograd (was it built with .item() or NumPy?)")
    assert_close(got["grad"], autograd_mse_grad(pred, target), what="autograd gradient of your mse")


# --- mse_grad -----------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Differentiate mean((pred - target)²) with respect to one element of pred: the square brings a factor, "
    "and every element shares the mean."
)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_mse_grad_matches_autograd_of_F_mse_loss(student, shape):
    pred, target = pair(shape, seed=6)
    want = autograd_mse_grad(pred, target)
    n = pred.numel()
    mistakes = {
        "the factor 2 from the square is missing": want / 2,
        "wrong sign: the gradient with respect to pred is positive where pred > target": -want,
    }
    if n > 1:  # for a single element the sum and the mean are the same
        mistakes["the gradient of the sum, not of the mean: divide by the number of elements"] = want * n
    if len(shape) > 1:
        mistakes["divided by the number of rows, not by the number of elements"] = want * n / shape[0]
    assert_close(student.mse_grad(pred, target), want, mistakes=mistakes)
