"""Hidden tests of week 2, finite_differences.py: the central-difference gradient.

A callable cannot cross the transport, so each probe defines the functions f it differentiates and
calls the learner's central_difference on them. The expected gradient is torch.autograd's, obtained
by running the very same probe on a stand-in module (AUTOGRAD) whose central_difference is exact.
The truncation error is the point of one test: at eps = 1e-3 on f = Σx³ a central difference is off
by eps² = 1e-6, a forward difference by about 3·eps·x.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("finite_differences")


def exact_gradient(f, x, eps=None):
    """The gradient of the scalar f at x from torch.autograd (eps is accepted and ignored)."""
    return torch.autograd.functional.jacobian(f, x)  # for a 0-d f(x): a tensor of x's shape


AUTOGRAD = SimpleNamespace(central_difference=exact_gradient)
"""Stands in for a learner's module in the probes: the exact gradient instead of an estimate."""


def _central_difference(m, name, x, eps):
    functions = {
        "cubes": lambda t: (t**3).sum(),
        "smooth": lambda t: (t.sin() * t.cumsum(-1)).sum() + (t**2).sum().sqrt(),
        "matrix": lambda t: (t @ t.mT).tanh().sum() + (t.exp() * t).mean(),
    }
    if eps is None:
        return m.central_difference(functions[name], x)
    return m.central_difference(functions[name], x, eps)


def _x_after_call(m, x, eps):
    before = x.clone()
    grad = m.central_difference(lambda t: (t**3).sum() + t.prod(), x, eps)
    return {"unchanged": bool(torch.equal(x, before)), "change": float((x - before).abs().max()), "grad": grad}


def _on_transposed_x(m, base, weights):
    x = base.T  # not contiguous: a flat view of x itself does not exist
    return m.central_difference(lambda t: (t * weights).sum() + (t**2).sum() * t[0, -1], x)


# --- accuracy -----------------------------------------------------------------------------------

CASES = [((), "smooth"), ((5,), "smooth"), ((3, 4), "matrix"), ((2, 3, 4), "matrix")]


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Move one coordinate at a time by +eps and by -eps, every other coordinate unchanged, and return the "
    "estimates in x's shape (a 0-d x has one coordinate)."
)
@pytest.mark.parametrize(("shape", "name"), CASES, ids=[f"{name}{shape}" for shape, name in CASES])
def test_central_difference_matches_autograd_for_any_shape(student, shape, name):
    x = randn(*shape, seed=len(shape))
    got = student.run(_central_difference, name, x, None)
    assert_close(got, _central_difference(AUTOGRAD, name, x, None), atol=1e-6, rtol=1e-6, what="gradient")


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "Write f(x + h) and f(x - h) as Taylor series around x and subtract: which error terms cancel, and "
    "what is the distance between the two points you sampled?"
)
def test_central_difference_error_is_order_eps_squared(student):
    eps = 1e-3
    x = randn(3, 4, seed=7)
    x = x + 0.3 * x.sign()  # |x| >= 0.3: a forward difference is off by at least 3·eps·0.3 ≈ 1e-3
    want = _central_difference(AUTOGRAD, "cubes", x, eps)  # 3x²; a central difference is off by eps² = 1e-6
    got = student.run(_central_difference, "cubes", x, eps)
    assert_close(
        got,
        want,
        atol=1e-5,
        rtol=0.0,
        what="gradient of Σx³ at eps=1e-3",
        mistakes={
            "error O(eps), expected O(eps²): this is a forward difference (f(x+eps) - f(x)) / eps": want
            + 3 * x * eps
            + eps**2,
            "error O(eps), expected O(eps²): this is a backward difference (f(x) - f(x-eps)) / eps": want
            - 3 * x * eps
            + eps**2,
            "twice the gradient: f(x+eps) - f(x-eps) was divided by eps, not by the distance 2·eps": 2
            * (want + eps**2),
        },
    )


# --- the caller's tensor ------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "Perturbing x in place changes the caller's tensor; either work on a copy, or put back the exact old value "
    "(x + eps - eps is not always x in floating point)."
)
def test_central_difference_leaves_x_unchanged(student):
    x = randn(2, 5, seed=11)
    got = student.run(_x_after_call, x, 1e-6)
    if not got["unchanged"]:
        fail(f"x changed by up to {got['change']:.3g} during the call: central_difference must leave x as it found it")
    want = _x_after_call(AUTOGRAD, x, 1e-6)["grad"]
    assert_close(got["grad"], want, atol=1e-6, rtol=1e-6, what="gradient")


@pytest.mark.points(1)
@pytest.mark.hint(
    "x may be a view with unusual strides (a transpose): .view(-1) needs a contiguous tensor, "
    "so flatten a contiguous copy (or use reshape and index in x's own shape)."
)
def test_central_difference_works_on_a_transposed_x(student):
    base, weights = randn(4, 3, seed=12), randn(3, 4, seed=13)
    got = student.run(_on_transposed_x, base, weights)
    assert_close(got, _on_transposed_x(AUTOGRAD, base, weights), atol=1e-6, rtol=1e-6, what="gradient")


# --- dtype ----------------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.hint("The estimate has x's shape and dtype: allocate it like x (torch.zeros_like), not with a fixed dtype.")
def test_central_difference_keeps_the_dtype_of_x(student):
    for dtype in (torch.float32, torch.float64):
        x = randn(2, 3, seed=41, dtype=dtype)
        got = student.run(_central_difference, "cubes", x, 1e-2)
        if isinstance(got, torch.Tensor) and got.dtype != x.dtype:
            fail(f"returned {got.dtype} for a {x.dtype} x; the estimate must keep x's dtype")
