"""A fully connected (linear) layer, forward and backward, in torch's layout.

The layer computes y = x Wᵀ + b, exactly like `torch.nn.functional.linear`:

    x:  (..., in)    any number of leading dims: (N, in), (N, T, in), ...
    W:  (out, in)    nn.Linear's layout: one row per output unit
    b:  (out,)       one bias per output unit, shared by every row of x
    y:  (..., out)

Back-propagation takes dout = dL/dy (the shape of y) and returns the gradients of the loss with
respect to each input, each with the shape of that input: dx like x, dW like W, db like b.
Every leading position (every example, every time step) used the same W and b, so their
contributions add up.
"""

from __future__ import annotations

import torch


def linear_forward(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """y = x Wᵀ + b, as `F.linear(x, W, b)`.

    x: (..., in). W: (out, in). b: (out,). Returns: (..., out), in x's dtype.
    """
    # TODO: one matrix product with W in the right orientation, then the bias (broadcasting adds
    #       it to every row).
    raise NotImplementedError("linear_forward() is not implemented yet")


def linear_backward(
    dout: torch.Tensor, x: torch.Tensor, W: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients (dx, dW, db) of a loss L given dout = dL/dy for y = linear_forward(x, W, b).

    dout: (..., out). x: (..., in), the forward's input. W: (out, in).
    Returns: dx of shape (..., in), dW of shape (out, in), db of shape (out,).
    """
    # TODO: dx: which product of dout and W has x's shape?
    # TODO: dW and db: every leading position (example, time step, ...) used the same W and b;
    #       flatten the leading dims into one and sum their contributions.
    raise NotImplementedError("linear_backward() is not implemented yet")
