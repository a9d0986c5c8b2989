"""Batch normalization from scratch, with torch's buffers, momentum and variance conventions.

In training, each channel c is normalized with the mean and variance of its values in the batch:
over dim 0 for (N, C) input and over dims (0, 2, 3) for (N, C, H, W) input (every dim but the
channel dim, in general). Then a learned scale γ (`weight`) and shift β (`bias`) are applied:
y = γ · (x - mean) / sqrt(var + eps) + β.

Two variances are at work. The batch is normalized with the *biased* variance (divide by n, the
number of values per channel). The running estimate of the population variance, used in eval, is
updated with the *unbiased* one (divide by n - 1). Torch's momentum convention is
running = (1 - momentum) · running + momentum · batch_statistic, with momentum = 0.1, and the
running statistics start at mean 0 and variance 1. In eval mode the running statistics are used
and never updated. Training on a single value per channel is meaningless, and raises.
"""

from __future__ import annotations

import torch
from torch import nn


class BatchNorm(nn.Module):
    """Batch norm over the channel dim 1 of (N, C), (N, C, L) or (N, C, H, W) input.

    Attributes, named as in nn.BatchNorm1d / nn.BatchNorm2d so a state_dict carries over:
      weight, bias: nn.Parameters of shape (C,), initialized to ones and zeros (None when not affine).
      running_mean, running_var: buffers (register_buffer) of shape (C,), zeros and ones at first.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        # TODO: the parameters (or None when not affine) and the two buffers, as the docstring says.
        raise NotImplementedError("__init__() is not implemented yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize x per channel; x: (N, C, *). Returns a tensor of x's shape.

        Training (self.training): batch statistics, and the running statistics are updated.
        Eval: the running statistics, left unchanged. Raises ValueError in training when there
        is only one value per channel (e.g. a batch of one (1, C) row).
        """
        # TODO: which dims hold the values of one channel? (All but dim 1.)
        # TODO: in training, normalize with the biased variance and update the running statistics
        #       without recording gradients, using the unbiased variance and torch's momentum.
        # TODO: reshape the per-channel statistics and γ, β so that they broadcast against x.
        raise NotImplementedError("forward() is not implemented yet")
