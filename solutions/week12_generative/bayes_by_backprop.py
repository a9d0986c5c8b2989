"""★ Bayes by Backprop: a Gaussian over every weight, sampled by reparameterisation.

Blundell et al. (2015) keep, for each weight w, a Gaussian q(w) = N(mu, σ²) instead of one value.
σ must be positive, so it is parameterized by an unconstrained rho: σ = softplus(rho) =
log(1 + exp(rho)) (use a stable softplus: exp(rho) overflows for large rho). A weight sample is
w = mu + σ·ε with ε ~ N(0, 1), differentiable in mu and rho. The loss adds to the data term the
KL divergence from q to the prior N(0, prior_sigma²), summed over every weight:

    KL = Σ [ log(prior_sigma / σ) + (σ² + mu²) / (2 prior_sigma²) − ½ ].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def bayes_linear_sample(mu: torch.Tensor, rho: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One sample w = mu + softplus(rho)·ε of the weights; mu's shape and dtype.

    mu, rho: tensors of the same shape (e.g. a linear layer's (out, in) weight). Draw ε with one
    call, torch.randn(mu.shape, generator=generator, dtype=mu.dtype). Gradients reach mu and rho.
    """
    # TODO: a positive standard deviation from rho, then the reparameterised sample.
    ### BEGIN SOLUTION
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
    return mu + F.softplus(rho) * eps
    ### END SOLUTION


def kl_gaussian(mu: torch.Tensor, rho: torch.Tensor, prior_sigma: float) -> torch.Tensor:
    """KL(N(mu, softplus(rho)²) ‖ N(0, prior_sigma²)) summed over every entry; a 0-dim tensor ≥ 0."""
    # TODO: the closed form above, with σ = softplus(rho); sum over all the weights.
    ### BEGIN SOLUTION
    sigma = F.softplus(rho)
    per_weight = math.log(prior_sigma) - torch.log(sigma) + (sigma**2 + mu**2) / (2 * prior_sigma**2) - 0.5
    return per_weight.sum()
    ### END SOLUTION
