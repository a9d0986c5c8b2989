"""Linear regression trained by minibatch stochastic gradient descent.

Instead of solving for w in closed form, start from w = 0, b = 0 and repeat: take a small batch
of examples, measure the mean squared error on it, and step against its gradient. Each epoch
shuffles the examples (the only randomness, drawn from a generator you are given, so that a
seed reproduces a run) and visits every one of them once.

Because the batch loss is a mean, its gradient is an average over the batch: its size does not
grow with the batch, and one learning rate suits every batch size. Summing instead multiplies
the effective learning rate by the batch size, and large batches diverge.
"""

from __future__ import annotations

import torch


def fit_linear_sgd(
    X: torch.Tensor, y: torch.Tensor, lr: float, epochs: int, batch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """Fit y ≈ X w + b by minibatch SGD on the mean squared error.

    X: (N, D) inputs. y: (N,) targets. w and b start at zero, in X's dtype.
    Each epoch visits every example exactly once, in a random order drawn from `generator`
    (e.g. torch.randperm(N, generator=generator)), in batches of `batch_size` examples (the last
    batch may be smaller). Each batch takes one step w ← w − lr·∂L/∂w, b ← b − lr·∂L/∂b, where
    L = mean over the batch of (x·w + b − y)².
    Returns (w, b, losses): w of shape (D,), b a 0-d tensor, and a list of `epochs` floats where
    losses[e] is the mean of epoch e's batch losses, each measured before its step.
    """
    # TODO: start from zeros; in each epoch, draw a permutation of the N examples from
    #       `generator` (never from torch's global generator) and cut it into batches.
    # TODO: for each batch: residual r = x·w + b − y; record mean(r²); step with the gradient of
    #       that mean (by hand: 2·Xᵀr / B for w and 2·sum(r) / B for b, with B the batch's size).
    # TODO: update w and b together, both from the gradient at the old values.
    raise NotImplementedError("fit_linear_sgd() is not implemented yet")
