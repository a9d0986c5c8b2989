"""Hidden tests of week 9, pooling.py: max and average pooling, forward and backward.

Expected values come from F.max_pool2d and F.avg_pool2d at test time, and the backward passes
from torch.autograd.grad through them, on seeded inputs: a batch of one, odd sizes with padding,
a 3-d (C, H, W) input, non-square kernels, overlapping windows. The ties test (#36) uses a
constant image, where torch sends each window's gradient to one cell; spreading it over the
window (or over every tied cell) is recomputed so the failure names it. count_include_pad (#37)
is checked on a ones image with padding, where the border averages are below 1 by default.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("pooling")

# name: (x shape, k, stride, padding)
CASES = {
    "batch of one, 2x2": ((1, 1, 4, 4), 2, None, 0),
    "3x3 stride 2 padding 1, odd sizes": ((2, 3, 7, 9), 3, 2, 1),
    "3-d input, non-square kernel": ((3, 5, 6), (3, 2), (1, 2), (1, 1)),
    "overlapping 3x3 stride 1": ((2, 2, 5, 6), 3, 1, 0),
    "default stride, leftover rows": ((2, 3, 7, 8), 3, None, 1),
}


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def pool_case(name, seed, constant=False):
    shape, k, stride, padding = CASES[name]
    x = torch.ones(shape, dtype=torch.float64) if constant else randn(*shape, seed=seed)
    return x, k, stride, padding


def torch_grad(fn, x, upstream_seed, **options):
    leaf = x.clone().requires_grad_()
    out = fn(leaf, **options)
    upstream = randn(*out.shape, seed=upstream_seed)
    (grad,) = torch.autograd.grad(out, leaf, upstream)
    return out.detach(), upstream, grad


def shape_named(got, want, stride_one, what):
    if isinstance(got, torch.Tensor) and got.shape != want.shape and got.shape == stride_one.shape:
        fail(f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}: stride=None means a stride equal to the kernel size")


# --- max pooling --------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Pad with -inf, cut the image into windows (Tensor.unfold on the last two dims), take the max of each.")
@pytest.mark.parametrize("name", list(CASES))
def test_max_pool2d_matches_F_max_pool2d(student, name):
    x, k, stride, padding = pool_case(name, 1)
    want = F.max_pool2d(x, k, stride, padding)
    got = student.max_pool2d(x, k, stride, padding)
    shape_named(got, want, F.max_pool2d(x, k, 1, padding), f"max_pool2d ({name})")
    assert_close(got, want, what=f"max_pool2d ({name})")


@pytest.mark.points(1)
@pytest.mark.hint("Padding cells must never win a max: an all-negative image shows whether they are zeros.")
@pytest.mark.parametrize("shape", [(1, 1, 3, 3), (2, 3, 5, 4)], ids=str)
def test_max_pool2d_padding_never_wins_on_negative_input(student, shape):
    x = -1.0 - randn(*shape, seed=2).abs()
    want = F.max_pool2d(x, 3, 2, 1)
    zero_padded = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2, 0)
    assert_close(
        student.max_pool2d(x, 3, 2, 1),
        want,
        what="max_pool2d of a negative image with padding 1",
        mistakes={"padded with zeros, which beat every negative value: pad with -inf": zero_padded},
    )


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "Each window's gradient goes to the cell that won it: find the argmax of each window, turn it into a "
    "(row, column) of the padded image, and add the gradient there."
)
@pytest.mark.parametrize("name", list(CASES))
def test_max_pool2d_backward_matches_autograd(student, name):
    x, k, stride, padding = pool_case(name, 3)
    _, upstream, want = torch_grad(F.max_pool2d, x, 4, kernel_size=k, stride=stride, padding=padding)
    got = student.max_pool2d_backward(x, upstream, k, stride, padding)
    spread = torch_grad(F.avg_pool2d, x, 4, kernel_size=k, stride=stride, padding=padding)[2]
    assert_close(
        got,
        want,
        what=f"max_pool2d_backward ({name})",
        mistakes={"gradient spread over the whole window: only the winning cell influenced the output": spread},
    )


@pytest.mark.points(3)
@pytest.mark.hint(
    "On ties, only one cell is selected (torch takes the first maximum in row-major order), "
    "so only that cell influenced the output and it alone gets the gradient."
)
@pytest.mark.parametrize("name", ["batch of one, 2x2", "3x3 stride 2 padding 1, odd sizes", "overlapping 3x3 stride 1"])
def test_max_pool2d_backward_sends_a_tied_windows_gradient_to_one_cell(student, name):
    x, k, stride, padding = pool_case(name, 0, constant=True)
    out, upstream, want = torch_grad(F.max_pool2d, x, 5, kernel_size=k, stride=stride, padding=padding)
    got = student.max_pool2d_backward(x, upstream, k, stride, padding)
    spread = torch_grad(F.avg_pool2d, x, 5, kernel_size=k, stride=stride, padding=padding, count_include_pad=False)[2]
    # every tied cell receives the whole gradient of each window that covers it
    every_tie = torch_grad(
        lambda t, **o: F.avg_pool2d(t, **o) * (k if isinstance(k, int) else k[0]) ** 2, x, 5, kernel_size=k, stride=stride, padding=padding
    )[2]
    if isinstance(got, torch.Tensor) and got.shape == want.shape:
        landed = int((got != 0).sum())
        expected = int((want != 0).sum())
        if landed > expected:
            fail(
                f"gradient spread over {landed} cells of a constant image where torch uses {expected}: "
                "on ties a single cell is selected"
            )
    assert_close(
        got,
        want,
        what=f"max_pool2d_backward on a constant image ({name})",
        mistakes={
            "gradient spread over the window: only the selected cell influenced the output": spread,
            "every tied cell got the whole gradient: only one cell is selected": every_tie,
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("A cell that wins several overlapping windows gets the sum of their gradients: accumulate, do not overwrite.")
@pytest.mark.parametrize("shape", [(1, 1, 5, 5), (2, 3, 6, 7)], ids=str)
def test_max_pool2d_backward_accumulates_over_overlapping_windows(student, shape):
    x = randn(*shape, seed=6) * 0.1
    x[..., 2, 2] = 10.0  # the max of every 3x3 window that covers it
    out, upstream, want = torch_grad(F.max_pool2d, x, 7, kernel_size=3, stride=1, padding=1)
    got = student.max_pool2d_backward(x, upstream, 3, 1, 1)
    if isinstance(got, torch.Tensor) and got.shape == want.shape:
        peak, total = got[..., 2, 2], want[..., 2, 2]
        wins = upstream[..., 1:4, 1:4].reshape(*upstream.shape[:-2], 9)
        single = (peak.unsqueeze(-1) - wins).abs().min(-1).values < 1e-12
        if not torch.allclose(peak, total) and bool(single.all()):
            fail("the winning cell of 9 overlapping windows got one window's gradient: accumulate, do not overwrite")
    assert_close(got, want, what="max_pool2d_backward with overlapping windows")


# --- average pooling ----------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Pad with zeros, sum each window, divide by the kernel area (or, without count_include_pad, by the real cells).")
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("count_include_pad", [True, False], ids=["include_pad", "exclude_pad"])
def test_avg_pool2d_matches_F_avg_pool2d(student, name, count_include_pad):
    x, k, stride, padding = pool_case(name, 8)
    want = F.avg_pool2d(x, k, stride, padding, count_include_pad=count_include_pad)
    got = student.avg_pool2d(x, k, stride, padding, count_include_pad)
    shape_named(got, want, F.avg_pool2d(x, k, 1, padding), f"avg_pool2d ({name})")
    mistakes = {}
    if any(pair(padding)):  # without padding there is no padded zero to count or leave out
        mistakes[f"border values match count_include_pad={not count_include_pad}: do padded zeros count in the average?"] = (
            F.avg_pool2d(x, k, stride, padding, count_include_pad=not count_include_pad)
        )
    assert_close(got, want, what=f"avg_pool2d ({name}, count_include_pad={count_include_pad})", mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint("torch counts the padded zeros in the average by default (count_include_pad=True).")
@pytest.mark.parametrize("shape", [(1, 1, 3, 3), (2, 2, 4, 5)], ids=str)
def test_avg_pool2d_counts_padding_by_default(student, shape):
    x = torch.ones(shape, dtype=torch.float64)
    want = F.avg_pool2d(x, 3, 1, 1)
    assert_close(
        student.avg_pool2d(x, 3, 1, 1),
        want,
        what="avg_pool2d of a ones image with padding 1 (default count_include_pad)",
        mistakes={"border values are 1: with the default count_include_pad=True the padded zeros count": torch.ones_like(want)},
    )


@pytest.mark.points(2)
@pytest.mark.hint("Each cell of a window receives the window's gradient divided by that window's divisor; overlapping windows add up.")
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("count_include_pad", [True, False], ids=["include_pad", "exclude_pad"])
def test_avg_pool2d_backward_matches_autograd(student, name, count_include_pad):
    x, k, stride, padding = pool_case(name, 9)
    _, upstream, want = torch_grad(
        F.avg_pool2d, x, 10, kernel_size=k, stride=stride, padding=padding, count_include_pad=count_include_pad
    )
    mistakes = {}
    if any(pair(padding)):  # without padding there is no padded zero to count or leave out
        mistakes[f"matches the gradient for count_include_pad={not count_include_pad}"] = torch_grad(
            F.avg_pool2d, x, 10, kernel_size=k, stride=stride, padding=padding, count_include_pad=not count_include_pad
        )[2]
    got = student.avg_pool2d_backward(x, upstream, k, stride, padding, count_include_pad)
    assert_close(
        got, want, what=f"avg_pool2d_backward ({name}, count_include_pad={count_include_pad})", mistakes=mistakes
    )


def _pool_error(m, name, padding):
    try:
        getattr(m, name)(torch.zeros(1, 1, 6, 6), 3, 1, padding)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:
        return type(error).__name__
    return "no error"


@pytest.mark.points(1)
@pytest.mark.hint("A padding larger than half the kernel would make windows of padding only: raise ValueError, as torch refuses too.")
@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_pooling_raises_value_error_when_padding_exceeds_half_the_kernel(student, name):
    with pytest.raises(RuntimeError):
        getattr(F, name)(torch.zeros(1, 1, 6, 6), 3, 1, 2)
    raised = student.run(_pool_error, name, 2)
    if raised != "ValueError":
        fail(f"{name} with kernel 3 and padding 2 gave {raised}, expected a ValueError")
    if student.run(_pool_error, name, 1) != "no error":
        fail(f"{name} with kernel 3 and padding 1 (allowed) raised an error")


@pytest.mark.points(1)
@pytest.mark.hint(
    "Without count_include_pad a corner window holds fewer real cells, so each of them gets a larger share; "
    "padding cells receive nothing, since they are not part of x."
)
@pytest.mark.parametrize("shape", [(1, 1, 3, 3), (2, 4, 2)], ids=str)
def test_avg_pool2d_backward_of_a_ones_gradient_with_padding(student, shape):
    x = randn(*shape, seed=11)
    leaf = x.clone().requires_grad_()
    out = F.avg_pool2d(leaf, 3, 1, 1, count_include_pad=False)
    (want,) = torch.autograd.grad(out, leaf, torch.ones_like(out))
    including = torch.autograd.grad(F.avg_pool2d(leaf, 3, 1, 1), leaf, torch.ones_like(out))[0]
    assert_close(
        student.avg_pool2d_backward(x, torch.ones_like(out), 3, 1, 1, False),
        want,
        what=f"avg_pool2d_backward of ones on {shape}, count_include_pad=False",
        mistakes={"matches the gradient for count_include_pad=True": including},
    )
