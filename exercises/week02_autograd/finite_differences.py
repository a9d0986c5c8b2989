"""Finite differences: a gradient estimated from values of f alone.

A derivative is the limit of a difference quotient. The forward difference (f(x + h) - f(x)) / h
is off by a term proportional to h, which comes from the curvature f''. The central difference
(f(x + h) - f(x - h)) / (2h) samples on both sides of x, the curvature terms cancel, and the error
is O(h²): on f = x³ the forward difference is 3x² + 3xh + h², the central one 3x² + h².
A numerical gradient costs two evaluations of f per coordinate, too slow to train with, but it needs
nothing except f, which makes it the standard check of analytic and automatic gradients.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def central_difference(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Gradient of a scalar function f at x, one coordinate at a time, by central differences.

    f: takes a tensor of x's shape and returns a single number (a 0-d or one-element tensor).
    x: the point, of any shape (use float64: a step of 1e-6 is below float32's resolution).
    eps: the step h taken along each coordinate, in both directions.
    Returns: a tensor of x's shape and dtype whose element i is (f(x + h·e_i) - f(x - h·e_i)) / (2h).
    x itself is left exactly as it was.
    """
    # TODO: work on a copy of x (contiguous, so that a flat view of it exists): f may be called on
    #       it, but the caller's x must be exactly the same after the call.
    # TODO: for each coordinate i, evaluate f with x_i moved by +eps and by -eps (every other
    #       coordinate unchanged), then put x_i back before moving on to the next one.
    # TODO: the estimate for coordinate i is the difference of the two values over the distance
    #       between the two points; return the estimates in x's shape.
    raise NotImplementedError("central_difference() is not implemented yet")
