"""Hidden tests of week12_generative/example.py (an example: replace with the exercise's tests).

Expected values come from torch at test time; each test has points and a hint.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import SHAPES, assert_close, randn

pytestmark = pytest.mark.exercise("example")


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("Multiplying a tensor by a number scales every entry.")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_scale_matches_torch_mul(student, shape):
    x = randn(*shape, seed=1)
    assert_close(student.scale(x, 2.5), torch.mul(x, 2.5), mistakes={"added the factor instead of multiplying": x + 2.5})


def _scale_grad(m, x):
    x = x.clone().requires_grad_()
    m.scale(x, 3.0).sum().backward()
    return x.grad


@pytest.mark.points(1)
@pytest.mark.hint("Build the result from torch operations so autograd can differentiate it.")
def test_scale_gradient_matches_reference(student, reference):
    x = randn(4, 3, seed=2)
    assert_close(student.run(_scale_grad, x), reference.run(_scale_grad, x))
