"""Hidden tests of week 9, conv.py: the output-size formula, conv2d forward and its backward.

Expected values come from torch at test time: F.conv2d's output (and its shape for the size
formula) on seeded inputs, and torch.autograd.grad through F.conv2d for the backward. Classic
mistakes are recomputed with F.conv2d so a failure can name them: a flipped kernel (a true
convolution), dilation ignored, padding on one side only, the size formula without the floor.
The performance test times the learner's conv2d against F.conv2d in the same sandbox call, on one
thread, best of several repeats, and fails a Python loop over output pixels.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("conv")

# (h, k, stride, padding, dilation)
SIZE_CASES = [
    (28, 3, 1, 1, 1),
    (15, 3, 2, 0, 1),
    (16, 4, 3, 1, 1),
    (31, 3, 2, 2, 2),
    (9, 5, 3, 0, 2),
    (7, 7, 1, 0, 1),
    (1, 1, 1, 0, 1),
]

# name: (x shape, (O, kh, kw), stride, padding, dilation, groups, bias)
CONV_CASES = {
    "batch of one, 3x3": ((1, 2, 5, 5), (3, 3, 3), 1, 1, 1, 1, True),
    "non-square kernel, pair padding": ((2, 3, 7, 9), (4, 2, 3), 1, (1, 2), 1, 1, True),
    "stride 3, odd sizes": ((3, 2, 11, 8), (5, 3, 3), 3, 1, 1, 1, False),
    "dilation 2": ((2, 3, 9, 10), (2, 3, 3), 1, 0, 2, 1, True),
    "stride 2, dilation 2, padding 2": ((1, 4, 13, 12), (3, 3, 2), 2, 2, 2, 1, False),
    "depthwise, groups = C": ((2, 4, 6, 7), (4, 3, 3), 1, 1, 1, 4, True),
    "groups = 2, 4 output channels each": ((3, 6, 8, 5), (8, 3, 1), (2, 1), (1, 0), (1, 2), 2, True),
    "1x1 kernel": ((2, 5, 4, 3), (3, 1, 1), 1, 0, 1, 1, True),
}


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_case(name, seed):
    shape, (out_ch, kh, kw), stride, padding, dilation, groups, has_bias = CONV_CASES[name]
    x = randn(*shape, seed=seed)
    w = randn(out_ch, shape[1] // groups, kh, kw, seed=seed + 1)
    b = randn(out_ch, seed=seed + 2) if has_bias else None
    return x, w, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


def one_sided(x, w, b, options):
    """The convolution with all the padding on the top and left (the classic one-sided mistake)."""
    ph, pw = pair(options["padding"])
    padded = F.pad(x, (2 * pw, 0, 2 * ph, 0))
    return F.conv2d(padded, w, b, options["stride"], 0, options["dilation"], options["groups"])


def conv_mistakes(x, w, b, options):
    """F.conv2d's output under each classic mistake that keeps the shape or changes it recognisably,
    for the mistakes this case's kernel, dilation and padding let differ from the right answer."""
    kernel = tuple(w.shape[-2:])
    mistakes = {}
    if kernel != (1, 1):  # a 1x1 kernel is its own flip
        mistakes["matches a convolution with a flipped kernel: deep-learning 'convolution' does not flip the kernel"] = (
            F.conv2d(x, w.flip(-1, -2), b, **options)
        )
    # a dilation of 1, or a single tap along the dilated dim, spreads nothing apart
    if any(d > 1 and k > 1 for d, k in zip(pair(options["dilation"]), kernel, strict=True)):
        mistakes["matches a convolution without dilation: dilation spreads the kernel taps apart"] = F.conv2d(
            x, w, b, options["stride"], options["padding"], 1, options["groups"]
        )
    if any(pair(options["padding"])):  # no padding: nothing to put on one side
        mistakes["matches padding on one side only: padding goes on both sides of each dim"] = one_sided(x, w, b, options)
    return mistakes


def check_conv_output(got, want, mistakes, what):
    """Shape first, naming a mistake whose shape the learner's output has; then the values."""
    if not isinstance(got, torch.Tensor):
        assert_close(got, want, what=what)
    if tuple(got.shape) != tuple(want.shape):
        for message, wrong in mistakes.items():
            if tuple(got.shape) == tuple(wrong.shape):
                fail(f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}; it {message.removeprefix('matches ')}")
        fail(f"{what}: shape {tuple(want.shape)} expected, got {tuple(got.shape)}: count how many kernel positions fit")
    assert_close(got, want, what=what, mistakes={k: v for k, v in mistakes.items() if v.shape == want.shape})


# --- conv_out_size ------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Count the kernel positions: the padded length, minus the span of the dilated kernel, in whole steps of the stride, plus one."
)
@pytest.mark.parametrize("case", SIZE_CASES, ids=lambda c: "h{}_k{}_s{}_p{}_d{}".format(*c))
def test_conv_out_size_matches_the_shape_F_conv2d_gives(student, case):
    h, k, stride, padding, dilation = case
    torch_size = F.conv2d(torch.zeros(1, 1, h, h), torch.zeros(1, 1, k, k), None, stride, padding, dilation).shape[-1]
    got = student.conv_out_size(h, k, stride, padding, dilation)
    if isinstance(got, float):
        fail(f"conv_out_size returned the float {got!r}: an int was expected (a partial step gives no position)")
    if not isinstance(got, int):
        fail(f"conv_out_size returned {type(got).__name__}, expected a Python int")
    span = dilation * (k - 1) + 1
    named = {
        "the dilation was ignored: a dilated kernel spans dilation·(k - 1) + 1 cells": (h + 2 * padding - k) // stride + 1,
        "the padding was counted on one side only": (h + padding - span) // stride + 1,
        "rounded up: a last partial step does not give a position": math.ceil((h + 2 * padding - span) / stride) + 1,
        "off by one: the first position counts too": (h + 2 * padding - span) // stride,
    }
    if got != torch_size:
        for message, wrong in named.items():
            if got == wrong and wrong != torch_size:
                fail(f"conv_out_size{case} = {got}, expected {torch_size}: {message}")
        fail(f"conv_out_size{case} = {got}, expected {torch_size}")


@pytest.mark.points(1)
@pytest.mark.hint("When the dilated kernel is longer than the padded input, not even one position fits: raise ValueError.")
@pytest.mark.parametrize("case", [(2, 3, 1, 0, 1), (5, 3, 1, 0, 3), (1, 4, 2, 1, 1)], ids=str)
def test_conv_out_size_raises_when_the_kernel_does_not_fit(student, case):
    raised = student.run(_size_error, case)
    if raised != "ValueError":
        fail(f"conv_out_size{case} gave {raised}, expected a ValueError (the kernel does not fit)")


def _size_error(m, case):
    try:
        value = m.conv_out_size(*case)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:
        return type(error).__name__
    return f"no error (it returned {value!r})"


# --- conv2d forward -----------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "F.unfold copies each receptive field into a column, in the order of w.view(O, -1); "
    "then one matrix product per group gives every output pixel at once."
)
@pytest.mark.parametrize("name", list(CONV_CASES))
def test_conv2d_matches_F_conv2d(student, name):
    x, w, b, options = conv_case(name, 10)
    got = student.conv2d(x, w, b, **options)
    want = F.conv2d(x, w, b, **options)
    check_conv_output(got, want, conv_mistakes(x, w, b, options), f"conv2d ({name})")


@pytest.mark.points(2)
@pytest.mark.hint("torch's conv2d is a cross-correlation: out[i, j] sums w[a, e]·x[i + a, j + e], the kernel is not flipped.")
def test_conv2d_is_a_cross_correlation_on_an_asymmetric_kernel(student):
    x = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    x[0, 0, 2, 2] = 1.0  # an impulse: a cross-correlation paints the kernel flipped, a convolution upright
    w = torch.arange(1.0, 10.0, dtype=torch.float64).view(1, 1, 3, 3)
    got = student.conv2d(x, w, None, 1, 1)
    want = F.conv2d(x, w, None, 1, 1)
    assert_close(
        got,
        want,
        what="conv2d of an impulse",
        mistakes={"matches a convolution with a flipped kernel: deep-learning 'convolution' does not flip": F.conv2d(
            x, w.flip(-1, -2), None, 1, 1
        )},
    )


@pytest.mark.points(2)
@pytest.mark.hint("Padding adds the same number of zeros on both sides of each spatial dim; stride and dilation then decide the size.")
@pytest.mark.parametrize("shape", [(1, 1, 9, 9), (2, 3, 15, 12)], ids=str)
def test_conv2d_pads_both_sides_with_stride_2_and_dilation_2(student, shape):
    x = randn(*shape, seed=20)
    w = randn(2, shape[1], 3, 3, seed=21)
    options = dict(stride=2, padding=2, dilation=2, groups=1)
    got = student.conv2d(x, w, None, **options)
    want = F.conv2d(x, w, None, **options)
    check_conv_output(got, want, conv_mistakes(x, w, None, options), f"conv2d on {shape}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "With G groups, output channel o only sees the input channels of its group, o // (O / G): "
    "split the columns and the weight by group and multiply group by group."
)
@pytest.mark.parametrize("groups", [2, 3], ids=lambda g: f"groups{g}")
def test_conv2d_groups_keep_channels_apart(student, groups):
    x = randn(2, 6, 5, 5, seed=30)
    w = randn(2 * groups, 6 // groups, 3, 3, seed=31)
    per_group = 6 // groups
    for group in range(groups):
        only = torch.zeros_like(x)
        only[:, group * per_group : (group + 1) * per_group] = x[:, group * per_group : (group + 1) * per_group]
        got = student.conv2d(only, w, None, 1, 1, 1, groups)
        want = F.conv2d(only, w, None, 1, 1, 1, groups)
        if isinstance(got, torch.Tensor) and got.shape == want.shape:
            silent = want.abs().sum(dim=(0, 2, 3)) == 0
            if (got.abs().sum(dim=(0, 2, 3))[silent] > 0).any():
                fail(
                    f"with groups={groups}, input channels of group {group} reached output channels of another group: "
                    "channels were mixed across groups"
                )
        assert_close(got, want, what=f"conv2d with groups={groups}, only group {group}'s channels non-zero")


def _conv_grads(m, x, w, b, options):
    x = x.clone().requires_grad_()
    w = w.clone().requires_grad_()
    b = b.clone().requires_grad_()
    out = m.conv2d(x, w, b, **options)
    if not out.requires_grad:
        return "detached"
    upstream = torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).view(out.shape)
    x_grad, w_grad, b_grad = torch.autograd.grad(out, (x, w, b), upstream)
    return {"x": x_grad, "w": w_grad, "b": b_grad}


@pytest.mark.points(2)
@pytest.mark.hint("Build conv2d from differentiable torch operations (unfold, reshape, matmul or einsum) so autograd can go through it.")
@pytest.mark.parametrize("name", ["batch of one, 3x3", "stride 2, dilation 2, padding 2", "groups = 2, 4 output channels each"])
def test_conv2d_gradients_match_autograd_of_F_conv2d(student, name):
    x, w, b, options = conv_case(name, 40)
    if b is None:
        b = randn(w.shape[0], seed=43)
    got = student.run(_conv_grads, x, w, b, options)
    if isinstance(got, str):
        fail("conv2d's output does not depend on x and w through autograd: was something detached?")
    want = _conv_grads(F, x, w, b, options)
    for key in ("x", "w", "b"):
        assert_close(got[key], want[key], what=f"autograd's gradient of conv2d with respect to {key}")


@pytest.mark.points(1)
@pytest.mark.hint("Compute in the input's dtype: a float32 image gives a float32 output.")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_conv2d_keeps_the_dtype(student, dtype):
    x, w, b, options = conv_case("non-square kernel, pair padding", 50)
    x, w, b = x.to(dtype), w.to(dtype), b.to(dtype)
    got = student.conv2d(x, w, b, **options)
    if isinstance(got, torch.Tensor) and got.dtype != dtype:
        fail(f"conv2d returned dtype {got.dtype} for {dtype} input; expected {dtype}")
    assert_close(got, F.conv2d(x, w, b, **options), what=f"conv2d in {dtype}")


def _conv_error(m, x_shape, w_shape, groups):
    try:
        m.conv2d(torch.zeros(x_shape), torch.zeros(w_shape), None, 1, 0, 1, groups)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:
        return type(error).__name__
    return "no error"


@pytest.mark.points(1)
@pytest.mark.hint("groups must divide both channel counts, and the weight's dim 1 must be C / groups: check before computing.")
@pytest.mark.parametrize(
    "x_shape, w_shape, groups",
    [((1, 6, 5, 5), (4, 3, 3, 3), 4), ((1, 6, 5, 5), (3, 2, 3, 3), 2), ((1, 4, 5, 5), (2, 3, 3, 3), 1)],
    ids=["C_not_divisible", "O_not_divisible", "weight_channels_wrong"],
)
def test_conv2d_raises_value_error_on_channels_that_do_not_fit_groups(student, x_shape, w_shape, groups):
    raised = student.run(_conv_error, x_shape, w_shape, groups)
    if raised != "ValueError":
        fail(f"x {x_shape}, w {w_shape}, groups={groups} gave {raised}, expected a ValueError")


def _timing(m, x, w, repeats):
    import time

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        m.conv2d(x, w, None, 1, 1)  # warm up both
        F.conv2d(x, w, None, 1, 1)
        yours, torchs = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            m.conv2d(x, w, None, 1, 1)
            yours.append(time.perf_counter() - start)
            start = time.perf_counter()
            F.conv2d(x, w, None, 1, 1)
            torchs.append(time.perf_counter() - start)
        return {"yours": min(yours), "torch": min(torchs)}
    finally:
        torch.set_num_threads(threads)


MAX_SLOWDOWN = 25.0


@pytest.mark.points(3)
@pytest.mark.timeout(30)
@pytest.mark.hint(
    "Vectorise: no Python loop over output pixels. F.unfold builds every receptive field at once, "
    "and a single matmul (or einsum) per call does the rest."
)
def test_conv2d_is_within_25x_of_F_conv2d_on_a_realistic_batch(student):
    x = randn(16, 8, 28, 28, seed=60, dtype=torch.float32)
    w = randn(16, 8, 3, 3, seed=61, dtype=torch.float32)
    assert_close(student.conv2d(x, w, None, 1, 1), F.conv2d(x, w, None, 1, 1), atol=1e-4, rtol=1e-4, what="conv2d")
    times = student.run(_timing, x, w, 5)
    ratio = times["yours"] / max(times["torch"], 1e-9)
    if ratio > MAX_SLOWDOWN:
        fail(
            f"conv2d took {times['yours'] * 1e3:.1f} ms on a (16, 8, 28, 28) batch, {ratio:.0f}× F.conv2d's "
            f"{times['torch'] * 1e3:.2f} ms (allowed {MAX_SLOWDOWN:.0f}×): vectorise instead of looping over output pixels"
        )


# --- conv2d backward ----------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "grad_b sums grad_out over batch and space; grad_w pairs grad_out with the unfolded input, summed over the batch; "
    "grad_x multiplies by the weight and folds the columns back, adding up overlapping fields."
)
@pytest.mark.parametrize("name", list(CONV_CASES))
def test_conv2d_backward_matches_autograd_of_F_conv2d(student, name):
    x, w, b, options = conv_case(name, 70)
    b = randn(w.shape[0], seed=73)
    leaf_x, leaf_w, leaf_b = (t.clone().requires_grad_() for t in (x, w, b))
    out = F.conv2d(leaf_x, leaf_w, leaf_b, **options)
    grad_out = randn(*out.shape, seed=74)
    want = torch.autograd.grad(out, (leaf_x, leaf_w, leaf_b), grad_out)
    got = student.conv2d_backward(x, w, grad_out, **options)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        fail("conv2d_backward must return three tensors: (grad_x, grad_w, grad_b)")
    grad_x, grad_w, grad_b = got
    per_example_b = grad_out.sum(dim=(2, 3))
    assert_close(
        grad_b,
        want[2],
        what="grad_b",
        mistakes={"grad_b was not summed over the batch": per_example_b},
    )
    flipped = {}
    if tuple(w.shape[-2:]) != (1, 1):  # a 1x1 kernel is its own flip
        flipped["grad_w matches the gradient of a flipped kernel"] = want[1].flip(-1, -2)
    assert_close(grad_w, want[1], what="grad_w", mistakes=flipped)
    assert_close(grad_x, want[0], what="grad_x")


@pytest.mark.points(2)
@pytest.mark.hint(
    "A stride larger than the kernel skips some input cells: their gradient is exactly 0. "
    "Cells shared by several receptive fields receive the sum of their contributions."
)
@pytest.mark.parametrize("stride, kernel", [(3, 2), (1, 3)], ids=["stride3_kernel2_gaps", "stride1_kernel3_overlaps"])
def test_conv2d_backward_on_gaps_and_overlaps(student, stride, kernel):
    x = randn(1, 2, 7, 8, seed=80)
    w = randn(3, 2, kernel, kernel, seed=81)
    leaf_x, leaf_w = x.clone().requires_grad_(), w.clone().requires_grad_()
    out = F.conv2d(leaf_x, leaf_w, None, stride)
    grad_out = torch.ones_like(out)
    want_x, want_w = torch.autograd.grad(out, (leaf_x, leaf_w), grad_out)
    got = student.conv2d_backward(x, w, grad_out, stride)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        fail("conv2d_backward must return three tensors: (grad_x, grad_w, grad_b)")
    assert_close(got[0], want_x, what=f"grad_x with stride {stride} and a {kernel}x{kernel} kernel")
    assert_close(got[1], want_w, what=f"grad_w with stride {stride} and a {kernel}x{kernel} kernel")
