"""t-SNE's input affinities (★ optional): Gaussian neighbourhoods of a chosen perplexity.

t-SNE turns distances into probabilities. Point i picks a neighbour j with probability

    p(j|i) = exp(−β_i ‖x_i − x_j‖²) / Σ_{l≠i} exp(−β_i ‖x_i − x_l‖²),   p(i|i) = 0,

where each point gets its own precision β_i = 1 / (2σ_i²), chosen so that the entropy of its row,
H(P_i) = −Σ_j p(j|i) log p(j|i) (natural log), equals log(perplexity): a point in a dense region
gets a narrow Gaussian, an isolated one a wide one. The entropy falls as β grows, so β_i can be
found by bisection. Finally the joint affinities are symmetrised, P = (P_cond + P_condᵀ) / (2N):
symmetric, summing to 1, with a zero diagonal.

Normalise each row with a softmax over −β_i·distance (leaving out j = i): writing exp and a sum
by hand underflows to 0/0 once β is large.
"""

from __future__ import annotations

import math

import torch


def conditional_affinities(X: torch.Tensor, perplexity: float, tol: float = 1e-10, max_iter: int = 200) -> torch.Tensor:
    """The (N, N) matrix of p(j|i): each row sums to 1, has a zero diagonal and entropy log(perplexity).

    X: (N, D) with N >= 2 and 1 <= perplexity < N − 1 (so the target entropy is reachable).
    Bisection on each β_i (any bracketing works) until |H(P_i) − log(perplexity)| < tol.
    """
    # TODO: squared distances (N, N), the diagonal left out of every row.
    # TODO: bisection on β per row until the row's entropy matches log(perplexity).
    raise NotImplementedError("conditional_affinities() is not implemented yet")


def tsne_affinities(X: torch.Tensor, perplexity: float) -> torch.Tensor:
    """t-SNE's joint affinities P = (P_cond + P_condᵀ) / (2N), (N, N), from conditional_affinities."""
    # TODO: symmetrise the conditional affinities.
    raise NotImplementedError("tsne_affinities() is not implemented yet")
