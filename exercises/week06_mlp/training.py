"""Train a small MLP on two moons with your own backward pass and plain SGD.

Parameters are a list of (W, b) pairs in nn.Linear's layout, W: (out, in), b: (out,). The
network applies ReLU after every layer but the last; the last layer's outputs are the logits of
the classes, and the loss is the mean cross-entropy over the batch:

    h_0 = X,   h_k = relu(h_{k-1} W_kᵀ + b_k),   logits = h_{L-1} W_Lᵀ + b_L
    loss = mean_n [ -log softmax(logits_n)[y_n] ]

No autograd here: `loss_and_grads` goes forward layer by layer, keeping what the backward pass
needs, then back: the gradient of the mean cross-entropy with respect to the logits, then each
layer's linear backward and ReLU backward (week 6.1 and 6.2), from the last layer to the first.
"""

from __future__ import annotations

import math

import torch

SIZES = [2, 32, 32, 2]
N_POINTS = 200
NOISE = 0.1
STEPS = 600
LR = 0.5


def make_two_moons(n: int, noise: float = 0.1, generator: torch.Generator | None = None):
    """Two interleaving half circles in 2-d: X of shape (n, 2) float32, labels y of shape (n,) int64.

    Class 0 lies on the upper half circle of radius 1 around (0, 0), class 1 on the lower one around
    (1, 0.5); each point gets Gaussian noise of standard deviation `noise`; the order is shuffled.
    (Given: sklearn's make_moons with random angles, in torch.)
    """
    n0 = n // 2
    angles = math.pi * torch.rand(n, generator=generator)
    upper = torch.stack([angles.cos(), angles.sin()], dim=1)
    lower = torch.stack([1 - angles.cos(), 0.5 - angles.sin()], dim=1)
    y = (torch.arange(n) >= n0).long()
    X = torch.where(y[:, None] == 0, upper, lower) + noise * torch.randn(n, 2, generator=generator)
    order = torch.randperm(n, generator=generator)
    return X[order], y[order]


def init_params(sizes: list[int], generator: torch.Generator | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Kaiming-normal weights (std √(2 / fan_in)) and zero biases for layers sizes[0] -> ... -> sizes[-1]. (Given.)"""
    return [
        (torch.randn(out, fan_in, generator=generator) * math.sqrt(2.0 / fan_in), torch.zeros(out))
        for fan_in, out in zip(sizes[:-1], sizes[1:])
    ]


def loss_and_grads(
    params: list[tuple[torch.Tensor, torch.Tensor]], X: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    """The mean cross-entropy of the network on (X, y) and its gradients, by hand.

    params: [(W_1, b_1), ..., (W_L, b_L)]. X: (N, sizes[0]). y: (N,) class indices.
    Returns: (loss, grads): loss a 0-d tensor; grads = [(dW_1, db_1), ...], each the shape of its
    parameter. Must stay finite for logits in the thousands (float32).
    """
    # TODO: forward: keep every layer's input and pre-activation for the backward pass.
    # TODO: a log-softmax that never overflows; the loss is a mean, so its gradient with respect
    #       to the logits is (softmax - one_hot(y)) / N.
    # TODO: backward from the last layer to the first: dW, db, then the gradient for the layer
    #       below, through the ReLU's mask.
    raise NotImplementedError("loss_and_grads() is not implemented yet")


def train_two_moons(seed: int, steps: int = STEPS, lr: float = LR) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Train an MLP of SIZES on N_POINTS two-moons points with full-batch SGD; return its parameters.

    The data and the initial parameters come from one generator seeded with `seed` (given below),
    so the run is deterministic. Each of the `steps` steps moves every parameter by -lr times its
    gradient from `loss_and_grads`. steps = 0 returns the initial parameters.
    Must reach >= 97% accuracy on the two moons within STEPS steps, in well under 3 s.
    """
    generator = torch.Generator().manual_seed(seed)
    X, y = make_two_moons(N_POINTS, NOISE, generator)
    params = init_params(SIZES, generator)
    # TODO: `steps` full-batch gradient steps.
    raise NotImplementedError("train_two_moons() is not implemented yet")
