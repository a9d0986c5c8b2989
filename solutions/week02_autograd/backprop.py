"""Backpropagation by hand through a two-layer network with a tanh hidden layer.

The network and its mean-squared loss, for inputs x of shape (..., D):

    z = x @ W1 + b1           (..., H)      W1: (D, H), b1: (H,)
    h = tanh(z)               (..., H)
    p = h @ W2 + b2           (..., K)      W2: (H, K), b2: (K,)
    L = mean((p - y)²)        a number: the mean over all entries of p, as F.mse_loss

Backpropagation is the chain rule applied from L back to the parameters, one layer at a time, each
step reusing the gradient that arrived from above: dL/dp, then dL/dW2 and dL/db2, then dL/dh,
dL/dz (through tanh), dL/dW1 and dL/db1. Every leading dim of x is a batch dim: the same weights
and biases serve every row, so their gradients are sums over all rows.
"""

from __future__ import annotations

import torch


def two_layer_loss(
    x: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """The forward pass: the mean-squared error of the network's predictions.

    x: (..., D) inputs. W1: (D, H), b1: (H,), W2: (H, K), b2: (K,). y: (..., K) targets.
    Returns: a 0-d tensor, mean((tanh(x @ W1 + b1) @ W2 + b2 - y)²) over all entries.
    """
    # TODO: the hidden layer, the output layer, then the mean of the squared errors over every entry.
    ### BEGIN SOLUTION
    h = torch.tanh(x @ W1 + b1)
    pred = h @ W2 + b2
    return ((pred - y) ** 2).mean()
    ### END SOLUTION


def two_layer_backward(
    x: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor, y: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The gradients of two_layer_loss with respect to the parameters, computed by hand (no autograd).

    Arguments as in two_layer_loss.
    Returns: {"W1": dL/dW1, "b1": dL/db1, "W2": dL/dW2, "b2": dL/db2}, each of its parameter's shape.
    """
    # TODO: redo the forward pass, keeping h. Flattening the leading dims of x, h and the predictions
    #       to one batch dim (reshape(-1, size)) turns every matrix product into a 2-D one.
    # TODO: dL/dp: differentiate the mean of squares. How many entries does the mean divide by?
    # TODO: a layer out = inp @ W + b sends back dL/dW = inp^T @ dL/dout and dL/dinp = dL/dout @ W^T;
    #       b was added to every row, so dL/db collects dL/dout from every row.
    # TODO: through tanh: dL/dz = dL/dh times tanh'(z), written in terms of h = tanh(z).
    ### BEGIN SOLUTION
    inputs = x.reshape(-1, x.shape[-1])
    h = torch.tanh(inputs @ W1 + b1)
    pred = h @ W2 + b2
    dpred = 2 * (pred - y.reshape(pred.shape)) / pred.numel()
    dW2 = h.T @ dpred
    db2 = dpred.sum(0)
    dh = dpred @ W2.T
    dz = dh * (1 - h**2)
    dW1 = inputs.T @ dz
    db1 = dz.sum(0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    ### END SOLUTION
