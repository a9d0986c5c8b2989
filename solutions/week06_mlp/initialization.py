"""Weight initialization: keep the scale of the signal the same from layer to layer.

A weight W of shape (out, in) (nn.Linear) or (out_ch, in_ch, kh, kw, ...) (nn.Conv2d) maps
fan_in inputs to each output unit and receives gradient from fan_out output units:

    fan_in  = W.size(1) · (the product of the kernel dims, if any)
    fan_out = W.size(0) · (the product of the kernel dims, if any)

Xavier/Glorot (for tanh-like activations) balances both directions: Var(W) = gain² · 2 / (fan_in + fan_out);
its uniform version draws from U(-a, a), a = gain · √(6 / (fan_in + fan_out)).
Kaiming/He (for ReLU) keeps the forward (mode="fan_in") or backward (mode="fan_out") variance:
W ~ N(0, std²), std = gain / √fan, with gain √2 for ReLU, 5/3 for tanh, 1 for a linear layer.

Both fill W in place (the trailing underscore is torch's convention for in-place) and return
W, drawing every random number from `generator` (torch's global generator when it is None).
"""

from __future__ import annotations

import math

import torch

GAINS = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0)}
"""The gain of each nonlinearity, as torch.nn.init.calculate_gain gives it."""


def fan_in_and_fan_out(W: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel). Raises ValueError if W.dim() < 2."""
    # TODO: every weight connecting to one output unit counts towards fan_in, kernel positions included.
    ### BEGIN SOLUTION
    if W.dim() < 2:
        raise ValueError(f"fan_in and fan_out need a weight with at least 2 dims, got shape {tuple(W.shape)}")
    receptive_field = math.prod(W.shape[2:])
    return W.size(1) * receptive_field, W.size(0) * receptive_field
    ### END SOLUTION


def xavier_uniform_(W: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill W in place from U(-a, a), a = gain · √(6 / (fan_in + fan_out)); return W."""
    # TODO: compute the bound, then fill W in place (Tensor.uniform_ takes a generator) without
    #       recording the operation in autograd (W may be a Parameter).
    ### BEGIN SOLUTION
    fan_in, fan_out = fan_in_and_fan_out(W)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        W.uniform_(-bound, bound, generator=generator)
    return W
    ### END SOLUTION


def kaiming_normal_(
    W: torch.Tensor,
    nonlinearity: str = "relu",
    mode: str = "fan_in",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill W in place from N(0, std²), std = gain(nonlinearity) / √fan; return W.

    nonlinearity: a key of GAINS. mode: "fan_in" (preserve the forward signal) or "fan_out"
    (preserve the backward one). Raises ValueError for any other nonlinearity or mode.
    """
    # TODO: pick the fan from `mode` and the gain from GAINS; a standard deviation, not a variance.
    ### BEGIN SOLUTION
    if nonlinearity not in GAINS:
        raise ValueError(f"nonlinearity must be one of {sorted(GAINS)}, got {nonlinearity!r}")
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(W)
    fan = fan_in if mode == "fan_in" else fan_out
    std = GAINS[nonlinearity] / math.sqrt(fan)
    with torch.no_grad():
        W.normal_(0.0, std, generator=generator)
    return W
    ### END SOLUTION
