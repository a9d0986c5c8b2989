"""Jacobians and Hessians from reverse-mode autograd, and the second-derivative test.

Reverse mode computes a vector-Jacobian product v^T J in one backward pass. With v = e_i, the i-th
one-hot vector, that product is row i of the Jacobian, so m backward passes give the whole
Jacobian of a function with m outputs. The Hessian of a scalar f is the Jacobian of its gradient,
which needs the gradient computed with `create_graph=True` so that it can be differentiated again.

At a critical point (gradient 0) the eigenvalues of the symmetric Hessian decide its kind: all
positive, a minimum; all negative, a maximum; some of each sign, a saddle. If none is negative but
one is 0 (or none positive but one is 0), second derivatives cannot tell: the point is degenerate
(x⁴ and -x⁴ both have a zero Hessian at 0, and one has a minimum there, the other a maximum).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def jacobian(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The Jacobian of f at x, one vector-Jacobian product (backward pass) per output element.

    f: maps a tensor of x's shape to a tensor of any shape (0-d for a scalar function), with torch
       operations that autograd can follow.
    x: the point, any shape; it is not modified.
    Returns: J of shape f(x).shape + x.shape, with J[i..., j...] = d f(x)[i...] / d x[j...]
    (the layout of torch.autograd.functional.jacobian). Outputs that do not depend on x give zeros.
    """
    # TODO: call f on a fresh leaf copy of x that requires grad, and flatten the output.
    # TODO: for each output element, torch.autograd.grad gives the gradient of that one element with
    #       respect to x: one row of J. Keep the graph alive for the next row (retain_graph=True).
    # TODO: an output element that does not require grad, or a gradient that comes back as None
    #       (allow_unused=True), is a row of zeros. Stack the rows and reshape to out_shape + in_shape.
    raise NotImplementedError("jacobian() is not implemented yet")


def hessian(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The Hessian of a scalar function f at x: the Jacobian of its gradient.

    f: maps a tensor of x's shape to a single number (a 0-d tensor).
    x: the point, any shape; it is not modified.
    Returns: H of shape x.shape + x.shape with H[i..., j...] = d²f / (dx[i...] dx[j...]).
    """

    # TODO: write the gradient of f as a function of x, built with create_graph=True so that it stays
    #       differentiable, and take its Jacobian. A gradient that does not depend on x (f linear)
    #       has a zero Jacobian.
    raise NotImplementedError("hessian() is not implemented yet")


def classify_critical_point(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tol: float = 1e-8) -> str:
    """The kind of the critical point x of a scalar f, from the eigenvalues of its Hessian.

    f: maps a tensor of x's shape to a single number; x: a point where the gradient of f is 0.
    tol: eigenvalues with absolute value <= tol count as zero.
    Returns: "minimum" (all eigenvalues > 0), "maximum" (all < 0), "saddle" (some > 0 and some < 0)
    or "degenerate" (otherwise: a zero eigenvalue decides, and the second-derivative test cannot).
    """
    # TODO: the Hessian as an n×n matrix (n = x.numel()), made exactly symmetric by averaging it with
    #       its transpose, then its eigenvalues: torch.linalg.eigvalsh is for symmetric matrices and
    #       returns real ones.
    # TODO: classify by the signs of ALL the eigenvalues. The sign of the determinant (their product)
    #       alone cannot tell a maximum from a saddle in 3 dimensions.
    raise NotImplementedError("classify_critical_point() is not implemented yet")
