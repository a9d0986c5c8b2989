"""What a trained classifier looks at, and how to fool it: saliency maps and FGSM adversarial examples.

Both need the gradient of something with respect to the INPUT image, not the weights: make a copy
of x that requires grad, run the model, and ask autograd for d(output)/d(copy) only
(torch.autograd.grad(output, [copy])), so that the parameters' .grad stay untouched.

- Saliency map (Simonyan et al., 2014): how much each pixel can change the score of the target
  class, the largest absolute gradient over the color channels:
      saliency[n, i, j] = max_c |d score[n, target[n]] / d x[n, c, i, j]|
- FGSM, the fast gradient sign method (Goodfellow et al., 2015): one step of size eps in the
  direction that increases the loss fastest in the L∞ ball,
      x_adv = clamp(x + eps · sign(d loss / d x), 0, 1)    with loss = cross-entropy(model(x), y),
  so every pixel moves by at most eps and the image stays a valid image in [0, 1].

Both run the model in eval mode (batch norm uses its running statistics and nothing is updated,
dropout is off) and put every submodule back in the mode it was in. Neither changes x, the model's
parameters, or their .grad.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _input_gradient(model: nn.Module, x: torch.Tensor, objective) -> torch.Tensor:
    """d objective(model(x')) / dx' at x' = x, with model in eval mode and every module's mode restored."""
    # TODO: remember each submodule's mode (model.modules()), switch to eval, and restore in a finally block.
    # TODO: a detached copy of x that requires grad; torch.autograd.grad with respect to it alone.
    raise NotImplementedError("_input_gradient() is not implemented yet")


def saliency_map(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """max over channels of |d score_target / dx|.

    model: maps (N, C, H, W) to class scores (N, K); x: (N, C, H, W); target: LongTensor (N,).
    Returns (N, H, W), non-negative, detached.
    """
    # TODO: the objective is the sum over the batch of each example's target score (examples do not interact).
    raise NotImplementedError("saliency_map() is not implemented yet")


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """x + eps · sign(d cross_entropy(model(x), y) / dx), clamped to [0, 1].

    x: (N, C, H, W) with values in [0, 1]; y: LongTensor (N,). Returns a new detached tensor of x's shape.
    """
    # TODO: the gradient of the mean cross-entropy with respect to x, one signed step, then clamp.
    raise NotImplementedError("fgsm() is not implemented yet")
