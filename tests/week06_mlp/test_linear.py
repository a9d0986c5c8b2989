"""Hidden tests of week 6, linear.py: a linear layer's forward and backward in nn.Linear's (out, in) layout.

Expected values are torch's at test time: F.linear for the forward, autograd through F.linear
for the backward (dx, dW, db for a given upstream gradient dout), on seeded float64 inputs of a
single row, odd sizes and extra leading dims. Square weights make the orientation mistakes
(x @ W, dout @ Wᵀ, xᵀ dout) show as wrong values rather than shape errors.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("linear")

IN, OUT = 5, 4
X_SHAPES = [(1, IN), (7, IN), (2, 3, IN), (3, 1, 2, IN)]


def autograd_linear_grads(x, W, b, dout):
    """(dx, dW, db) from torch's autograd through F.linear."""
    x, W, b = (t.clone().requires_grad_() for t in (x, W, b))
    F.linear(x, W, b).backward(dout)
    return x.grad, W.grad, b.grad


def layer(x_shape, out, seed):
    """x of x_shape, W of (out, in), b of (out,), dout of (..., out), all seeded float64."""
    x = randn(*x_shape, seed=seed)
    W = randn(out, x_shape[-1], seed=seed + 1)
    b = randn(out, seed=seed + 2)
    dout = randn(*x_shape[:-1], out, seed=seed + 3)
    return x, W, b, dout


# --- forward --------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("nn.Linear stores W as (out, in): one row per output unit. y = x Wᵀ + b, with b added to every row.")
@pytest.mark.parametrize("x_shape", X_SHAPES, ids=str)
def test_linear_forward_matches_F_linear(student, x_shape):
    x, W, b, _ = layer(x_shape, OUT, seed=1)
    assert_close(
        student.linear_forward(x, W, b),
        F.linear(x, W, b),
        what=f"y for x of shape {x_shape}",
        mistakes={"the bias is missing": F.linear(x, W)},
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "With a square W the shapes cannot warn you: write out y_j = sum_i x_i W[j, i] + b_j and check which index of W is the input."
)
def test_linear_forward_with_a_square_W_uses_its_rows_as_output_units(student):
    x, W, b, _ = layer((6, IN), IN, seed=2)
    assert_close(
        student.linear_forward(x, W, b),
        F.linear(x, W, b),
        what="y for a square W",
        mistakes={"computed x @ W + b: W is (out, in), so each output unit is a row of W": x @ W + b},
    )


@pytest.mark.points(1)
@pytest.mark.hint("Build y from x, W and b with torch operations only; nothing needs a new dtype.")
def test_linear_forward_keeps_float32(student):
    x, W, b, _ = (t.float() for t in layer((3, IN), OUT, seed=3))
    got = student.linear_forward(x, W, b)
    if isinstance(got, torch.Tensor) and got.dtype != torch.float32:
        fail(f"float32 inputs gave a result of dtype {got.dtype}, expected torch.float32")
    assert_close(got, F.linear(x, W, b))


# --- backward -------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Each gradient has the shape of what it is the gradient of. b (and W) is shared by every leading position "
    "(every example, every time step): add up the contributions of all of them."
)
@pytest.mark.parametrize("x_shape", X_SHAPES, ids=str)
def test_linear_backward_matches_autograd(student, x_shape):
    x, W, b, dout = layer(x_shape, OUT, seed=4)
    dx, dW, db = autograd_linear_grads(x, W, b, dout)
    got = student.linear_backward(dout, x, W)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        fail(f"linear_backward must return the three gradients (dx, dW, db), got {type(got).__name__}")
    got_dx, got_dW, got_db = got
    assert_close(got_dx, dx, what="dx")
    assert_close(got_dW, dW, what="dW", mistakes={"dW is transposed: it must have W's shape (out, in)": dW.T})
    flat = dout.reshape(-1, OUT)
    mistakes = {f"db has shape {tuple(dout.shape)}, expected ({OUT},): b is shared by every row, sum its gradient": dout}
    if dout.dim() > 2:  # with one leading dim, the first dim is every leading dim
        mistakes["db summed over the first dim only: sum over every leading dim"] = dout.sum(0)
    if flat.shape[0] > 1:  # over a single row, the mean is the sum
        mistakes["db averaged instead of summed over the rows"] = flat.mean(0)
    assert_close(got_db, db, what="db", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint(
    "dx_i = sum_j dout_j W[j, i] and dW[j, i] = sum_n dout[n, j] x[n, i]: with a square W only the orientation "
    "of each product tells them apart."
)
def test_linear_backward_with_a_square_W(student):
    x, W, b, dout = layer((6, IN), IN, seed=5)
    dx, dW, db = autograd_linear_grads(x, W, b, dout)
    got_dx, got_dW, got_db = student.linear_backward(dout, x, W)
    assert_close(got_dx, dx, what="dx", mistakes={"dx = dout @ Wᵀ: W is (out, in), so dx = dout @ W": dout @ W.T})
    assert_close(got_dW, dW, what="dW", mistakes={"dW is transposed: it must have W's shape (out, in)": dW.T})
    assert_close(got_db, db, what="db")


@pytest.mark.points(2)
@pytest.mark.hint(
    "The loss depends on W through every row of x: one row gives dW = doutᵀ x for that row; a batch sums them, "
    "including the rows of every extra leading dim."
)
def test_linear_backward_batch_of_seventeen_by_three_time_steps(student):
    x, W, b, dout = layer((17, 3, IN), OUT, seed=6)
    dx, dW, db = autograd_linear_grads(x, W, b, dout)
    got_dx, got_dW, got_db = student.linear_backward(dout, x, W)
    assert_close(got_dx, dx, what="dx")
    assert_close(
        got_dW,
        dW,
        what="dW",
        mistakes={"dW uses only the last time step": dout[:, -1].T @ x[:, -1], "dW uses only the first example": dout[0].T @ x[0]},
    )
    assert_close(
        got_db,
        db,
        what="db",
        mistakes={
            f"db has shape (3, {OUT}), expected ({OUT},): it was summed over the batch but not over time": dout.sum(0),
            f"db has shape (17, 3, {OUT}), expected ({OUT},): b is shared by every row, sum its gradient": dout,
        },
    )
