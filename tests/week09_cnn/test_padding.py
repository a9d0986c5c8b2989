"""Hidden tests of week 9, padding.py: pad2d against F.pad in its four modes.

Expected values come from F.pad at test time on seeded inputs of several shapes (a (1, 1, 2, 3)
image, odd sizes, a 3-d (C, H, W) input). F.pad's order confusion (#35: the tuple starts with the
last dim) is recomputed with F.pad so the failure names it, as are the sides swapped, reflect
written as "symmetric" (edge repeated) and the errors for pads too large to mirror or wrap.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("padding")

# mode: [(shape, pad)], every pad valid for that mode
CASES = {
    "constant": [((1, 1, 2, 3), (1, 2, 3, 4)), ((2, 3, 5, 4), (0, 3, 2, 0)), ((3, 4, 5), (2, 1, 0, 3))],
    "reflect": [((1, 1, 3, 4), (1, 3, 2, 1)), ((2, 3, 5, 4), (0, 3, 2, 0)), ((3, 4, 5), (4, 1, 3, 2))],
    "replicate": [((1, 1, 2, 3), (1, 2, 3, 4)), ((2, 3, 5, 4), (6, 0, 0, 5)), ((3, 4, 5), (2, 1, 0, 3))],
    "circular": [((1, 1, 2, 3), (1, 2, 2, 1)), ((2, 3, 5, 4), (4, 3, 2, 5)), ((3, 4, 5), (2, 1, 0, 3))],
}


def order_mistakes(x, pad, mode):
    """F.pad's result under each misreading of the (left, right, top, bottom) tuple, when valid."""
    left, right, top, bottom = pad
    readings = {
        "padding applied to the wrong axis: the pad tuple starts with the last dim (width)": (top, bottom, left, right),
        "padding applied to the wrong sides: left/right (and top/bottom) swapped": (right, left, bottom, top),
        "the pad tuple was read as (left, top, right, bottom)": (left, top, right, bottom),
    }
    out, seen = {}, set()
    for message, wrong in readings.items():
        if wrong == pad or wrong in seen:  # a misreading that is the right one, or one named already
            continue
        seen.add(wrong)
        try:
            out[message] = F.pad(x, wrong, mode)
        except RuntimeError:
            pass
    return out


def check_padded(got, want, mistakes, what):
    if isinstance(got, torch.Tensor) and got.shape != want.shape:
        for message, wrong in mistakes.items():
            if got.shape == wrong.shape:
                fail(f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}; {message}")
    assert_close(got, want, what=what, mistakes={k: v for k, v in mistakes.items() if v.shape == want.shape})


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "pad = (left, right, top, bottom): the first pair pads the last dim (width). "
    "Each mode is a rule for which input cell a border cell copies."
)
@pytest.mark.parametrize("mode", list(CASES))
def test_pad2d_matches_F_pad(student, mode):
    for index, (shape, pad) in enumerate(CASES[mode]):
        x = randn(*shape, seed=index)
        want = F.pad(x, pad, mode)
        check_padded(student.pad2d(x, pad, mode), want, order_mistakes(x, pad, mode), f"pad2d({tuple(shape)}, {pad}, {mode!r})")


@pytest.mark.points(2)
@pytest.mark.hint("Draw one row [a b c d] padded by 2 in each mode: reflect mirrors about the edge cell without repeating it.")
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad2d_asymmetric_pads_on_a_ramp(student, mode):
    x = torch.arange(12.0, dtype=torch.float64).view(1, 3, 4)
    pad = (3, 1, 2, 0)
    want = F.pad(x, pad, mode)
    mistakes = order_mistakes(x, pad, mode)
    if mode == "reflect":
        symmetric = np.pad(x.numpy(), ((0, 0), (2, 0), (3, 1)), mode="symmetric")
        mistakes["the edge cell was repeated (numpy's 'symmetric'): reflect mirrors about the edge cell"] = torch.from_numpy(
            symmetric
        )
        mistakes["matches replicate padding, not reflect"] = F.pad(x, pad, "replicate")
    check_padded(student.pad2d(x, pad, mode), want, mistakes, f"pad2d of a 3×4 ramp by {pad} ({mode})")


@pytest.mark.points(1)
@pytest.mark.hint("In constant mode the border is filled with `value`; the result keeps x's dtype.")
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64], ids=str)
def test_pad2d_constant_value_and_dtype(student, dtype):
    x = (randn(2, 3, 4, seed=5) * 10).to(dtype)
    value = -1.5 if dtype.is_floating_point else 7
    got = student.pad2d(x, (1, 0, 2, 1), "constant", value)
    if isinstance(got, torch.Tensor) and got.dtype != dtype:
        fail(f"pad2d returned dtype {got.dtype} for {dtype} input")
    assert_close(
        got,
        F.pad(x, (1, 0, 2, 1), "constant", value),
        what=f"pad2d with value={value}",
        mistakes={"the border is 0: the `value` argument was ignored": F.pad(x, (1, 0, 2, 1))},
    )


@pytest.mark.points(1)
@pytest.mark.hint("Zero padding on every side must give back x unchanged, whatever the mode.")
@pytest.mark.parametrize("mode", list(CASES))
def test_pad2d_with_zero_pads_is_the_identity(student, mode):
    x = randn(1, 2, 3, 5, seed=6)
    assert_close(student.pad2d(x, (0, 0, 0, 0), mode), x, what=f"pad2d(x, (0, 0, 0, 0), {mode!r})")


def _pad_error(m, shape, pad, mode):
    try:
        m.pad2d(torch.zeros(shape), pad, mode)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:
        return type(error).__name__
    return "no error"


@pytest.mark.points(2)
@pytest.mark.hint(
    "Reflect mirrors the cells beyond the edge, so a pad must be smaller than the size it mirrors; "
    "circular wraps once, so a pad may be at most the size. Raise ValueError otherwise, as torch refuses too."
)
@pytest.mark.parametrize(
    "shape, pad, mode",
    [
        ((1, 1, 3, 4), (4, 0, 0, 0), "reflect"),
        ((1, 1, 3, 4), (0, 0, 0, 3), "reflect"),
        ((2, 3, 2), (2, 0, 0, 0), "reflect"),
        ((1, 1, 3, 4), (5, 0, 0, 0), "circular"),
        ((1, 1, 3, 4), (0, 0, 4, 0), "circular"),
        ((1, 1, 3, 4), (1, 1, 1, 1), "wrap"),
    ],
    ids=["reflect_left_eq_W", "reflect_bottom_eq_H", "reflect_3d", "circular_gt_W", "circular_gt_H", "unknown_mode"],
)
def test_pad2d_raises_value_error_for_pads_too_large(student, shape, pad, mode):
    if mode != "wrap":
        with pytest.raises(RuntimeError):
            F.pad(torch.zeros(shape), pad, mode)  # torch refuses these too
    raised = student.run(_pad_error, shape, pad, mode)
    if raised != "ValueError":
        fail(f"pad2d of shape {shape} by {pad} in mode {mode!r} gave {raised}, expected a ValueError")


def _pad_grad(m, x, pad, mode, upstream):
    x = x.clone().requires_grad_()
    out = m.pad2d(x, pad, mode)
    if not out.requires_grad:
        return "detached"
    out.backward(upstream)
    return x.grad


@pytest.mark.points(1)
@pytest.mark.hint("Build the padded tensor from differentiable torch operations (indexing, index_select, cat) so autograd goes through it.")
@pytest.mark.parametrize("mode", list(CASES))
def test_pad2d_gradient_matches_autograd_of_F_pad(student, mode):
    x = randn(2, 3, 4, 5, seed=7)
    pad = (2, 1, 3, 2)
    upstream = randn(2, 3, 4 + 5, 5 + 3, seed=8)
    got = student.run(_pad_grad, x, pad, mode, upstream)
    if isinstance(got, str):
        fail("the padded tensor does not depend on x through autograd: was it detached, or built from plain numbers?")
    assert_close(got, _torch_pad_grad(x, pad, mode, upstream), what=f"gradient of pad2d ({mode})")


def _torch_pad_grad(x, pad, mode, upstream):
    leaf = x.clone().requires_grad_()
    F.pad(leaf, pad, mode).backward(upstream)
    return leaf.grad
