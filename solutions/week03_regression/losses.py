"""The mean squared error and its gradient, with no silent broadcasting.

A regression loss compares a prediction with its target element by element. The trap is shapes:
a model's output of shape (N, 1) minus targets of shape (N,) does not fail in torch, it
broadcasts to an (N, N) table of every prediction against every target, and the "loss" is the
mean of that table. So both functions insist that the two shapes are equal. The loss is a mean
over the elements, never a sum, so that its size (and the step size it calls for) does not grow
with the batch.
"""

from __future__ import annotations

import torch


def _check_same_shape(pred: torch.Tensor, target: torch.Tensor) -> None:
    """Raise ValueError unless pred and target have the same shape and at least one element."""
    # TODO: compare the shapes themselves (broadcastable is not enough: (N, 1) and (N,) broadcast).
    # TODO: the mean of no elements is undefined: refuse an empty batch too.
    ### BEGIN SOLUTION
    if pred.shape != target.shape:
        raise ValueError(
            f"pred has shape {tuple(pred.shape)} and target has shape {tuple(target.shape)}; "
            "they must be equal (reshape one of them; broadcasting would compare every pair)"
        )
    if pred.numel() == 0:
        raise ValueError("the batch is empty: the mean squared error of no examples is undefined")
    ### END SOLUTION


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error mean((pred - target)²) over every element, like F.mse_loss.

    pred, target: tensors of the same shape, any number of dims, at least one element.
    Returns: a 0-d tensor of pred's dtype, differentiable by autograd.
    Raises ValueError if the shapes differ (even when they broadcast) or the batch is empty.
    """
    # TODO: validate the shapes first with _check_same_shape.
    # TODO: average (do not sum) the squared differences over all elements.
    ### BEGIN SOLUTION
    _check_same_shape(pred, target)
    diff = pred - target
    return (diff**2).mean()
    ### END SOLUTION


def mse_grad(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gradient of mse(pred, target) with respect to pred, written by hand (no autograd).

    pred, target: tensors of the same shape, at least one element.
    Returns: a tensor of pred's shape: d mse / d pred.
    Raises ValueError if the shapes differ or the batch is empty.
    """
    # TODO: validate the shapes first with _check_same_shape.
    # TODO: differentiate mean((pred - target)²) with respect to one element of pred: how many
    #       elements share the mean, and where does the factor from the square go?
    ### BEGIN SOLUTION
    _check_same_shape(pred, target)
    return 2 * (pred - target) / pred.numel()
    ### END SOLUTION
