"""Penalties that pull parameters towards a point: L2 weight decay and elastic weight consolidation.

L2 regularization adds (λ/2)·Σ w² to the loss. The ½ makes its gradient λ·w, which is exactly
what `torch.optim.SGD(weight_decay=λ)` adds to each gradient. Only weights are penalized: a bias
or a normalization layer's scale and shift only move or rescale activations, and pulling them to
0 hurts the fit without making the function any simpler. In a torch model these are exactly the
parameters with fewer than 2 dims (weight matrices and conv kernels have 2 or more).

Elastic weight consolidation (Kirkpatrick et al., 2017) protects what a network learned on an
earlier task while it trains on a new one: each parameter is pulled back to its old value θ* with
a strength given by the diagonal Fisher information F, (λ/2)·Σ F·(θ - θ*)².
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def l2_penalty(model: nn.Module, lam: float) -> torch.Tensor:
    """(lam / 2) times the sum of squares of the model's weights, biases and norm parameters excluded.

    model: any nn.Module. A parameter is a weight when it has at least 2 dims; 1-d parameters
    (biases, the weight and bias of LayerNorm / BatchNorm) are not penalized.
    Returns: a 0-d tensor that autograd can differentiate with respect to the weights, so that
    loss + l2_penalty(model, lam) trains like SGD(weight_decay=lam) on the weights alone.
    A model with no weights gives a 0-d zero.
    """
    # TODO: loop over model.parameters(); which ones count as weights?
    # TODO: the gradient of the penalty with respect to a weight w must be lam * w.
    ### BEGIN SOLUTION
    total = torch.zeros(())
    for param in model.parameters():
        if param.dim() >= 2:
            total = total + param.pow(2).sum()
    return 0.5 * lam * total
    ### END SOLUTION


def ewc_penalty(
    params: Iterable[torch.Tensor], anchor: Iterable[torch.Tensor], fisher: Iterable[torch.Tensor], lam: float
) -> torch.Tensor:
    """The EWC penalty (lam / 2) · Σ_i fisher_i · (params_i - anchor_i)², summed over every element.

    params: the current parameters θ (tensors, possibly requiring grad), e.g. model.parameters().
    anchor: the parameters θ* after the previous task, one tensor per parameter, same shapes.
    fisher: the diagonal Fisher information F >= 0, one tensor per parameter, same shapes.
    Returns: a 0-d tensor; 0 at θ = θ*, and its gradient with respect to θ is lam · F · (θ - θ*).
    """
    # TODO: pair up the three sequences; every parameter contributes a weighted sum of squares.
    ### BEGIN SOLUTION
    total = torch.zeros(())
    for theta, theta_star, weight in zip(params, anchor, fisher, strict=True):
        total = total + (weight * (theta - theta_star).pow(2)).sum()
    return 0.5 * lam * total
    ### END SOLUTION
