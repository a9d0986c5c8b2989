"""Denoising and inpainting auto-encoders: corrupt the input, reconstruct the clean one.

An auto-encoder maps x to a code and back to a reconstruction x̂. Trained to copy its input it
can learn the identity; a *denoising* auto-encoder sees a corrupted x̃ and is scored against the
clean x, so it must learn what clean data looks like. Two corruptions:

- 'gaussian': x̃ = x + level·ε with ε ~ N(0, 1) per entry; every entry is corrupted.
- 'mask' (inpainting): each entry is hidden (set to 0) independently with probability `level`.
  The loss then scores only the hidden entries: filling in the holes is the task.

Every random draw comes from the given torch.Generator, so the same seed gives the same
corruption and the global random state is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch


def corrupt(
    x: torch.Tensor, kind: Literal["gaussian", "mask"], level: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt x; return (x_tilde, mask).

    x: a floating tensor of any shape. level: the noise's standard deviation ('gaussian') or the
    probability of hiding each entry ('mask'). generator: the source of every random draw.
    Returns x_tilde (x's shape and dtype) and mask, a bool tensor of x's shape that is True where
    an entry was corrupted: everywhere for 'gaussian'; the hidden entries (set to 0) for 'mask'.
    Any other kind raises ValueError.
    """
    # TODO: draw the noise or the hidden entries with generator=generator (and x's dtype).
    raise NotImplementedError("corrupt() is not implemented yet")


def recon_loss(x_hat: torch.Tensor, x_clean: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared reconstruction error against the clean input; a 0-dim tensor.

    x_hat, x_clean: the same shape. mask: None (average over every entry) or a bool tensor of that
    shape: then the squared errors are averaged over the True entries only (divided by the number
    of True entries, not by the number of all entries). An all-False mask gives 0 (not NaN), and
    the loss stays differentiable with respect to x_hat.
    """
    # TODO: squared errors; without a mask their mean, with one their sum over the masked entries
    #       divided by how many entries are masked (guard the empty mask).
    raise NotImplementedError("recon_loss() is not implemented yet")


def denoising_loss(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    kind: Literal["gaussian", "mask"],
    level: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """The training loss of a denoising (or inpainting) auto-encoder on the batch x.

    Corrupt x with corrupt(x, kind, level, generator) (one call), reconstruct with model, and score
    the reconstruction with recon_loss: for 'mask' only over the hidden entries, for 'gaussian' over
    every entry. Returns a 0-dim tensor through which gradients reach the model's parameters.
    """
    # TODO: which input does the model see, and which x is the target?
    raise NotImplementedError("denoising_loss() is not implemented yet")
