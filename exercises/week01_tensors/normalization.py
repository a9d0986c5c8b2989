"""Feature normalization: rescale each feature to [0, 1] (min-max) or to mean 0 and variance 1 (z-score).

A data matrix has one row per example and one column per feature, so the statistics of a
feature are taken over the rows: along dim 0. `dim` names the dim the statistics are taken
along, the one that is reduced; every other dim keeps its own statistics. The variance is the
biased one (divide by N), as numpy's `var` computes it; torch's `var` and `std` divide by N - 1
unless told otherwise. A constant feature has range 0 and variance 0: it must come out as zeros,
not NaN, which is what `eps` is for.
"""

from __future__ import annotations

import torch


def minmax_scale(x: torch.Tensor, dim: int = 0, eps: float = 1e-12) -> torch.Tensor:
    """Rescale x to [0, 1] along `dim`: (x - min) / (max - min), with min and max taken along `dim`.

    x: a tensor of any shape with at least one element along `dim`; integer tensors (e.g. uint8
    images with values 0...255) are converted to the default float dtype first.
    eps: the smallest range divided by, so that a constant slice gives zeros instead of 0/0.
    Returns: a floating tensor of x's shape with values in [0, 1].
    """
    # TODO: integer inputs must give a floating result: convert them first.
    # TODO: take the min and max along `dim`, keeping that dim so that they broadcast against x.
    # TODO: a constant slice has max == min: keep the denominator at least eps.
    raise NotImplementedError("minmax_scale() is not implemented yet")


def zscore(x: torch.Tensor, dim: int = 0, eps: float = 1e-8) -> torch.Tensor:
    """Standardize x along `dim`: (x - mean) / sqrt(var + eps), with the biased variance (divide by N).

    x: a tensor of any shape with at least one element along `dim`; integer tensors are converted
    to the default float dtype first.
    eps: added to the variance, so that a constant slice (or a single example) gives zeros.
    Returns: a floating tensor of x's shape; each slice along `dim` has mean 0 and variance
    var / (var + eps), i.e. about 1.
    """
    # TODO: integer inputs must give a floating result: convert them first.
    # TODO: mean and variance along `dim`, kept as a dim of size 1 so that they broadcast against x.
    # TODO: which variance estimator does the docstring ask for, and which one does torch.var use
    #       by default? What does each give for a single example?
    raise NotImplementedError("zscore() is not implemented yet")
