"""Hidden tests of week 8, normalization.py: layer_norm and group_norm against F.layer_norm / F.group_norm.

Inputs of several shapes (a batch of one, odd sizes, extra leading dims), with and without the
affine weight and bias. Rows of tiny variance make eps's place visible: inside the square root,
(x - mean)/sqrt(var + eps) stays bounded, outside it does not. Gradients are checked through a
probe against torch's.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("normalization")

LAYER_CASES = {  # name: (x shape, normalized_shape)
    "(1, 6), (6,)": ((1, 6), (6,)),
    "(7, 5), 5 as an int": ((7, 5), 5),
    "(2, 3, 4), (4,)": ((2, 3, 4), (4,)),
    "(2, 3, 4), (3, 4)": ((2, 3, 4), (3, 4)),
    "(3, 2, 5, 3), (5, 3)": ((3, 2, 5, 3), (5, 3)),
}
GROUP_CASES = {  # name: (x shape, num_groups)
    "(1, 6, 4, 4), 3 groups": ((1, 6, 4, 4), 3),
    "(5, 4), 2 groups": ((5, 4), 2),
    "(3, 6, 5), 2 groups": ((3, 6, 5), 2),
    "(2, 8, 3, 3), 8 groups": ((2, 8, 3, 3), 8),
    "(2, 6, 3, 3), 1 group": ((2, 6, 3, 3), 1),
}


def _grads(m, name, x, args, weight, bias, upstream):
    x, weight, bias = (t.clone().requires_grad_() for t in (x, weight, bias))
    out = getattr(m, name)(x, *args, weight, bias)
    out.backward(upstream)
    return [x.grad, weight.grad, bias.grad]


def _group_error(m, x, num_groups):
    try:
        m.group_norm(x, num_groups)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:
        return type(error).__name__
    return "no error"


def as_tuple(shape):
    return (shape,) if isinstance(shape, int) else tuple(shape)


def layer_norm_eps_outside(x, shape, weight, bias, eps=1e-5):
    dims = tuple(range(x.dim() - len(as_tuple(shape)), x.dim()))
    mean, var = x.mean(dims, keepdim=True), x.var(dims, unbiased=False, keepdim=True)
    out = (x - mean) / (var.sqrt() + eps)
    return out if weight is None else out * weight + bias


def layer_inputs(shape, normalized, seed):
    x = randn(*shape, seed=seed, scale=2.0) + 1.0
    weight = 1.0 + 0.5 * randn(*as_tuple(normalized), seed=seed + 1)
    bias = randn(*as_tuple(normalized), seed=seed + 2)
    return x, weight, bias


def group_inputs(shape, seed):
    x = randn(*shape, seed=seed, scale=2.0) + torch.linspace(-2, 2, shape[1]).view([1, -1] + [1] * (len(shape) - 2))
    weight = 1.0 + 0.5 * randn(shape[1], seed=seed + 1)
    bias = randn(shape[1], seed=seed + 2)
    return x, weight, bias


def group_norm_interleaved(x, groups, weight, bias):
    """The mistake of grouping channels c, c + G, c + 2G, ... instead of consecutive ones."""
    n, c = x.shape[:2]
    moved = x.reshape(n, c // groups, groups, -1).transpose(1, 2)
    out = F.layer_norm(moved, moved.shape[2:]).transpose(1, 2).reshape(x.shape)
    per_channel = [1, c] + [1] * (x.dim() - 2)
    return out * weight.view(per_channel) + bias.view(per_channel)


# --- layer_norm ---------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Normalize each example over its last len(normalized_shape) dims, with the biased variance.")
@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_layer_norm_matches_F_layer_norm(student, case):
    shape, normalized = LAYER_CASES[case]
    x, weight, bias = layer_inputs(shape, normalized, 10)
    dims = len(as_tuple(normalized))
    mistakes = {}
    if dims > 1:
        last = x.shape[-1:]
        mistakes["normalized over the last dim only: normalized_shape names the last len(normalized_shape) dims"] = (
            F.layer_norm(x, last) * weight + bias
        )
    unbiased = (x - x.mean(tuple(range(-dims, 0)), keepdim=True)) / (
        x.var(tuple(range(-dims, 0)), keepdim=True) + 1e-5
    ).sqrt()
    mistakes["normalized with the unbiased variance: layer norm uses the biased one"] = unbiased * weight + bias
    want = F.layer_norm(x, as_tuple(normalized), weight, bias)
    got = student.layer_norm(x, normalized, weight, bias)
    assert_close(got, want, what="with weight and bias", mistakes=mistakes)
    got = student.layer_norm(x, normalized)
    assert_close(got, F.layer_norm(x, as_tuple(normalized)), what="without weight and bias")


@pytest.mark.points(2)
@pytest.mark.hint("Compare where eps goes with the formula in the docs: (x - mean) / sqrt(var + eps).")
def test_layer_norm_puts_eps_inside_the_square_root_for_tiny_variance_rows(student):
    base = randn(4, 8, seed=20)
    x = base * torch.tensor([1e-4, 1e-3, 1.0, 3e-3], dtype=torch.float64).view(4, 1)
    want = F.layer_norm(x, (8,))
    assert_close(
        student.layer_norm(x, (8,)),
        want,
        atol=1e-6,
        rtol=1e-6,
        mistakes={
            "eps added outside the square root: wrong for rows of tiny variance": layer_norm_eps_outside(
                x, (8,), None, None
            )
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("Build the result from torch operations on x, weight and bias so autograd differentiates all three.")
@pytest.mark.parametrize("case", ["(1, 6), (6,)", "(2, 3, 4), (3, 4)"])
def test_layer_norm_gradients_match_torch(student, case):
    shape, normalized = LAYER_CASES[case]
    x, weight, bias = layer_inputs(shape, normalized, 30)
    upstream = randn(*shape, seed=33)
    args = [normalized]
    got = student.run(_grads, "layer_norm", x, args, weight, bias, upstream)
    want = _grads(F, "layer_norm", x, [as_tuple(normalized)], weight, bias, upstream)
    assert_close(got, want, atol=1e-10, what="[grad x, grad weight, grad bias]")


# --- group_norm ---------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Group g holds the consecutive channels g·C/G ... (g+1)·C/G - 1; normalize each example's group over its channels and positions."
)
@pytest.mark.parametrize("case", list(GROUP_CASES))
def test_group_norm_matches_F_group_norm(student, case):
    shape, groups = GROUP_CASES[case]
    x, weight, bias = group_inputs(shape, 40)
    mistakes = {}
    if 1 < groups < shape[1]:
        mistakes["channels grouped by stride (c, c + G, ...) instead of consecutively"] = group_norm_interleaved(
            x, groups, weight, bias
        )
    got = student.group_norm(x, groups, weight, bias)
    assert_close(got, F.group_norm(x, groups, weight, bias), what="with weight and bias", mistakes=mistakes)
    assert_close(student.group_norm(x, groups), F.group_norm(x, groups), what="without weight and bias")


@pytest.mark.points(2)
@pytest.mark.hint("Build the result from torch operations on x, weight and bias so autograd differentiates all three.")
@pytest.mark.parametrize("case", ["(1, 6, 4, 4), 3 groups", "(3, 6, 5), 2 groups"])
def test_group_norm_gradients_match_torch(student, case):
    shape, groups = GROUP_CASES[case]
    x, weight, bias = group_inputs(shape, 50)
    upstream = randn(*shape, seed=53)
    got = student.run(_grads, "group_norm", x, [groups], weight, bias, upstream)
    want = _grads(F, "group_norm", x, [groups], weight, bias, upstream)
    assert_close(got, want, atol=1e-10, what="[grad x, grad weight, grad bias]")


@pytest.mark.points(1)
@pytest.mark.hint("The channels must split evenly into groups; check C % num_groups before reshaping.")
def test_group_norm_raises_when_groups_do_not_divide_the_channels(student):
    for shape, groups in (((2, 6, 3), 4), ((1, 5, 2, 2), 2)):
        raised = student.run(_group_error, randn(*shape, seed=60), groups)
        if raised != "ValueError":
            fail(f"{shape[1]} channels in {groups} groups gave {raised}, expected a ValueError")
