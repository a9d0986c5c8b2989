"""Positional information for a transformer: fixed sinusoids and learned position vectors.

Attention by itself is blind to order: permute the tokens and the outputs are permuted the same
way. A transformer therefore adds to each token's embedding a vector that depends on its
position t.

Sinusoidal positions ("Attention Is All You Need"): for pair i = 0, 1, ... of feature columns,

    PE[t, 2i]     = sin(t / base^(2i / d))
    PE[t, 2i + 1] = cos(t / base^(2i / d))        base = 10000

so columns 2i and 2i + 1 share one frequency, sin at the even column, cos at the odd one, and the
wavelengths grow geometrically from 2π to about 2π·base along the features. For an odd d the
last column is a sin (its cos partner would be column d).

Learned positions (BERT, GPT-2): a trainable (max_len, d_model) table whose row t is added to
the token at position t; it cannot describe positions beyond max_len.
"""

from __future__ import annotations

import torch
from torch import nn


def sinusoidal_positions(T: int, d: int, base: float = 10000.0) -> torch.Tensor:
    """The (T, d) float32 table PE above, for positions t = 0..T-1 and feature columns 0..d-1.

    T >= 0, d >= 1 (T = 0 gives a (0, d) table). Compute in float64 and return float32.
    """
    # TODO: a column of positions times a row of frequencies (one per pair of columns), then sin
    #       into the even columns and cos into the odd ones.
    raise NotImplementedError("sinusoidal_positions() is not implemented yet")


class LearnedPositions(nn.Module):
    """x + weight[:T]: a trainable position vector added to each of the T tokens.

    Attributes: weight, an nn.Parameter of shape (max_len, d_model), drawn from N(0, 0.02²).
    forward(x): x is (..., T, d_model) (time in dim -2, e.g. (N, T, d_model)); returns x's shape.
    Raises ValueError when T > max_len.
    """

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        # TODO: one trainable table, initialised as the docstring says.
        raise NotImplementedError("__init__() is not implemented yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: check T against max_len, then add the first T rows (broadcast over leading dims).
        raise NotImplementedError("forward() is not implemented yet")
