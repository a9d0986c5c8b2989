"""Hidden tests of week 8, dropout.py: inverted dropout returning (output, mask).

A correct dropout may draw its random numbers in any order, so no test pins a mask: each checks
out == x·mask/(1 - p) for the learner's own mask, or statistics of a million elements (the keep
rate and the mean of the output, within 3σ), or that the given generator alone decides the mask.
Generators cannot cross the transport, so probes build them from a seed.
"""

from __future__ import annotations

import math

import pytest
import torch

from grader.testing import SHAPES, assert_close, fail, randn

pytestmark = pytest.mark.exercise("dropout")

MILLION = 1_000_000


def _stats(m, p, n, seed):
    x = torch.ones(n, dtype=torch.float64)
    out, mask = m.dropout(x, p, True, torch.Generator().manual_seed(seed))
    return {"keep_rate": mask.double().mean().item(), "mean": out.mean().item()}


def _grad(m, x, p, upstream, seed):
    x = x.clone().requires_grad_()
    out, mask = m.dropout(x, p, True, torch.Generator().manual_seed(seed))
    out.backward(upstream)
    return x.grad, mask


def _generator_masks(m, x, p):
    torch.manual_seed(0)
    first = m.dropout(x, p, True, torch.Generator().manual_seed(7))[1]
    torch.manual_seed(1)
    again = m.dropout(x, p, True, torch.Generator().manual_seed(7))[1]
    other = m.dropout(x, p, True, torch.Generator().manual_seed(8))[1]
    return first, again, other


def _error_for(m, x, p):
    try:
        m.dropout(x, p, True, torch.Generator().manual_seed(0))
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:
        return type(error).__name__
    return "no error"


def check_pair(got, x, what):
    """Fail unless got is an (output, mask) pair of x's shape, output of x's dtype, mask boolean."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(f"{what}: dropout must return a pair (output, mask), got {type(got).__name__}")
    out, mask = got
    for name, value in (("output", out), ("mask", mask)):
        if not isinstance(value, torch.Tensor):
            fail(f"{what}: the {name} must be a tensor, got {type(value).__name__}")
        if value.shape != x.shape:
            fail(f"{what}: the {name} has shape {tuple(value.shape)}, expected x's shape {tuple(x.shape)}")
    if out.dtype != x.dtype:
        fail(f"{what}: the output has dtype {out.dtype}, expected x's dtype {x.dtype}")
    if mask.dtype != torch.bool:
        fail(f"{what}: the mask has dtype {mask.dtype}, expected torch.bool (True where kept)")
    return out, mask


def sigma_of_mean(p: float, n: int) -> tuple[float, float]:
    """Standard deviations of the keep rate and of the mean of mask / (1 - p) over n elements."""
    rate = math.sqrt(p * (1 - p) / n)
    return rate, rate / (1 - p)


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Inverted dropout divides the kept values by the keep probability, so that E[output] = x.")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_dropout_output_is_x_times_mask_over_keep_probability(student, shape):
    for dtype in (torch.float64, torch.float32):
        x = randn(*shape, seed=1, dtype=dtype)
        for p in (0.2, 0.5):
            out, mask = check_pair(student.dropout(x, p), x, f"p={p}, {dtype}")
            want = x * mask / (1 - p)
            mistakes = {
                "kept values were not rescaled: the expected output would be (1 - p)·x": x * mask,
                "kept values multiplied by (1 - p) instead of divided by it": x * mask * (1 - p),
            }
            if not mask.all():  # a mask that keeps everything is followed by any output x / (1 - p)
                mistakes["the output does not follow the mask you returned: output must be x·mask/(1 - p)"] = x / (1 - p)
            assert_close(out, want, what=f"output for p={p}", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint("p is the probability of dropping an element, as in torch's nn.Dropout(p); some notes use p to keep.")
@pytest.mark.parametrize("p", [0.1, 0.3, 0.8])
def test_dropout_keeps_a_fraction_1_minus_p_of_a_million_elements(student, p):
    stats = student.run(_stats, p, MILLION, 11)
    sigma, _ = sigma_of_mean(p, MILLION)
    rate = stats["keep_rate"]
    if abs(rate - (1 - p)) <= 3 * sigma:
        return
    if abs(rate - p) <= 3 * sigma:
        fail(f"keep rate {rate:.4f} ≈ p = {p}: p was used as the keep probability, it is the drop probability")
    fail(f"keep rate {rate:.4f} on 10⁶ elements, expected {1 - p:.4f} ± {3 * sigma:.4f} (3σ)")


@pytest.mark.points(2)
@pytest.mark.hint("Inverted dropout rescales at train time so that eval needs nothing: E[output] must equal x.")
@pytest.mark.parametrize("p", [0.1, 0.3, 0.8])
def test_dropout_mean_of_output_equals_x_on_a_million_ones(student, p):
    stats = student.run(_stats, p, MILLION, 12)
    _, sigma = sigma_of_mean(p, MILLION)
    mean = stats["mean"]
    if abs(mean - 1) <= 3 * sigma:
        return
    if abs(mean - (1 - p)) <= 3 * sigma * (1 - p):
        fail(f"mean of output {mean:.4f}·x, expected x: the kept values were not rescaled by 1/(1 - p)")
    fail(f"mean of output {mean:.4f} for an input of ones, expected 1 ± {3 * sigma:.4f} (3σ)")


@pytest.mark.points(1)
@pytest.mark.hint("In eval mode (training=False) inverted dropout does nothing at all: it already rescaled in training.")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_dropout_in_eval_mode_is_the_identity(student, shape):
    x = randn(*shape, seed=2)
    for p in (0.3, 0.9):
        out, mask = check_pair(student.dropout(x, p, False), x, f"training=False, p={p}")
        if not bool(mask.all()):
            fail(f"training=False, p={p}: {int((~mask).sum())} elements dropped: dropout must be off in eval mode")
        assert_close(out, x, what=f"output with training=False, p={p}", mistakes={"rescaled by 1/(1 - p) in eval mode": x / (1 - p)})


@pytest.mark.points(1)
@pytest.mark.hint("p = 0 drops nothing; p = 1 drops everything, and 1/(1 - p) must then not be computed (0/0 is NaN).")
def test_dropout_p_0_is_the_identity_and_p_1_gives_zeros_without_nan(student):
    x = randn(4, 6, seed=3)
    out, mask = check_pair(student.dropout(x, 0.0), x, "p=0")
    if not bool(mask.all()):
        fail("p=0 dropped some elements: p is the drop probability")
    assert_close(out, x, what="output for p=0")
    out, mask = check_pair(student.dropout(x, 1.0), x, "p=1")
    if torch.isnan(out).any():
        fail("NaN in the output for p=1: every element is dropped, so do not divide by 1 - p = 0")
    if bool(mask.any()):
        fail(f"p=1 kept {int(mask.sum())} elements: every element must be dropped")
    assert_close(out, torch.zeros_like(x), what="output for p=1")


@pytest.mark.points(2)
@pytest.mark.hint("Build the output from x with torch operations: the gradient then flows only through kept elements.")
@pytest.mark.parametrize("shape", [(1, 3), (9, 7), (2, 3, 5)], ids=str)
def test_dropout_backward_uses_the_same_mask(student, shape):
    x, upstream = randn(*shape, seed=4), randn(*shape, seed=5)
    p = 0.4
    grad, mask = student.run(_grad, x, p, upstream, 13)
    if grad is None:
        fail("x.grad is None: the output is not connected to x through autograd")
    assert_close(
        grad,
        upstream * mask / (1 - p),
        what="gradient of the output with respect to x",
        mistakes={"the gradient ignores the mask (was the output built outside autograd?)": upstream / (1 - p)},
    )


@pytest.mark.points(1)
@pytest.mark.hint("Draw the random numbers from the generator you are given (torch.rand takes a generator= argument).")
def test_dropout_mask_is_decided_by_the_generator_alone(student):
    x = randn(50, 40, seed=6)
    first, again, other = student.run(_generator_masks, x, 0.5)
    if not torch.equal(first, again):
        fail("two calls with generators seeded alike gave different masks: the mask must come from the generator")
    if torch.equal(first, other):
        fail("generators seeded 7 and 8 gave the same mask: the mask must come from the generator")


@pytest.mark.points(1)
@pytest.mark.hint("A probability lives in [0, 1]; check p before using it.")
def test_dropout_rejects_p_outside_0_1(student):
    x = randn(3, 4, seed=7)
    for p in (-0.1, 1.5):
        raised = student.run(_error_for, x, p)
        if raised != "ValueError":
            fail(f"p={p} gave {raised}, expected a ValueError")
