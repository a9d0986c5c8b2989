"""Logistic regression: the loss of a linear score squashed by a sigmoid, and its gradient by hand.

A sample x gets the score (logit) z = w·x + b and the probability σ(z) of being in class 1.
The loss is the mean binary cross-entropy -[y log σ(z) + (1 - y) log(1 - σ(z))] over the batch.
Written in z it is softplus(z) - y·z, which never overflows; written with σ first, it takes the
log of a probability that has rounded to 0 or 1 as soon as |z| is a few dozen. Its gradient is
remarkably simple: the error σ(z) - y, weighted by each input, averaged over the batch.
"""

from __future__ import annotations

import torch


def logistic_loss_and_grad(
    w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The mean logistic loss of the scores z = X @ w + b, and its gradient with respect to w and b.

    w: (D,) weights. b: a 0-d bias. X: (N, D) inputs, one sample per row.
    y: (N,) labels, 0. or 1. (the class of each sample; {-1, +1} labels are a different
    convention, and are rejected with a ValueError).
    Returns (loss, dw, db): the 0-d mean binary cross-entropy over the N samples, and its
    gradients dw (D,) and db (0-d), computed by hand (no autograd). All of them stay finite and
    exact for scores as large as |z| = 500, in float32 as in float64.
    """
    # TODO: check the labels first: anything other than 0 or 1 raises a ValueError that says so.
    # TODO: the loss, written directly in z without computing σ(z) first (what is log σ(z) in
    #       terms of softplus, or torch.logaddexp?).
    # TODO: the gradient of the mean loss: start from d loss_n / d z_n = σ(z_n) - y_n (derive
    #       it!), then apply the chain rule through z = X @ w + b.
    raise NotImplementedError("logistic_loss_and_grad() is not implemented yet")
