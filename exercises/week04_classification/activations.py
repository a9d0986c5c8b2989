"""The two squashing functions of classification, written so that they never overflow.

sigmoid(x) = 1 / (1 + e^(-x)) turns one score into a probability; softmax turns a vector of
scores (logits) into a distribution. Both are made of exponentials, and e^x overflows float32
above x ≈ 88.7 (float64 above ≈ 709): a formula that is right on paper can return NaN, or a
NaN gradient, for large scores. The cure is the same each time: rewrite the formula so that
exp() only ever sees arguments <= 0. For softmax, subtracting the same constant from every logit
of a row changes nothing, so subtract the row's largest one. For log-probabilities, never take
the log of a probability that has already underflowed to 0: stay in log space.
"""

from __future__ import annotations

import numpy as np
import torch


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """The logistic function σ(x) = 1 / (1 + e^(-x)), elementwise, for any finite or infinite x.

    x: a floating tensor of any shape. Returns: a tensor of x's shape and dtype, with
    σ(-inf) = 0 and σ(+inf) = 1. No NaN in the result or in its gradient (autograd must
    differentiate it), for float32 or float64 inputs as large as ±1000 or ±inf.
    """
    # TODO: for x >= 0, e^(-x) is at most 1; for x < 0, rewrite σ(x) with e^(x) instead (multiply
    #       the top and bottom by e^x), which is then at most 1 too.
    # TODO: torch.where evaluates (and differentiates) BOTH branches on every element: a branch
    #       that overflows where it is not selected still turns the gradient into NaN. Make sure
    #       no exp() anywhere sees a large positive argument.
    # TODO: check the slope at x = 0 exactly (σ'(0) = 1/4): what gradient does torch.abs give there?
    raise NotImplementedError("sigmoid() is not implemented yet")


def sigmoid_numpy(x: np.ndarray) -> np.ndarray:
    """The same logistic function for NumPy arrays, without a single RuntimeWarning.

    x: a floating array of any shape. Returns: an array of x's shape and dtype.
    NumPy warns ("overflow encountered in exp") where torch silently returns inf; the grader
    turns those warnings into errors, so exp() must never overflow here either.
    """
    # TODO: the same idea as sigmoid(); np.where also evaluates both of its branches everywhere.
    raise NotImplementedError("sigmoid_numpy() is not implemented yet")


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Probabilities softmax(x)_i = e^(x_i) / sum_j e^(x_j) along `dim`.

    x: logits of any shape (floating). Returns: a tensor of x's shape, non-negative, summing to 1
    along `dim`. Must stay exact for float32 logits as large as 1e4, also when rows of very
    different scales share a batch. An entry of -inf gets a probability of exactly 0.
    A slice whose entries are all -inf has no probability to share out: it gives NaN in every
    entry of that slice (like torch.softmax), and leaves the other slices untouched.
    """
    # TODO: softmax does not change when the same constant is subtracted from every logit of a
    #       slice along `dim`. Which constant keeps every exp() <= 1? Take it per slice, not over
    #       the whole tensor (keepdim=True keeps the shapes broadcastable).
    raise NotImplementedError("softmax() is not implemented yet")


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Log-probabilities log softmax(x)_i = x_i - log sum_j e^(x_j) along `dim`.

    x: logits of any shape (floating). Returns: a tensor of x's shape; its exp sums to 1 along
    `dim`. Must be finite wherever x is finite, even when the probability underflows: a logit
    200 below the largest one in float32 gives about -200, not -inf. An entry of -inf gives
    -inf. A slice whose entries are all -inf gives NaN in every entry of that slice (like
    torch.log_softmax), and leaves the other slices untouched.
    """
    # TODO: shift each slice by its own maximum, as in softmax.
    # TODO: stay in log space: never take the log of a probability you have computed.
    raise NotImplementedError("log_softmax() is not implemented yet")
