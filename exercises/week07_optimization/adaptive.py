"""Adaptive learning rates: Adagrad, RMSprop (plain and centered) and Adadelta, as torch.optim.

Each coordinate gets its own step size, divided by a running measure of its gradient's size, so
rarely-moving coordinates take larger steps. They differ in how that measure is kept:

    Adagrad   s = s + g²                          p -= lr_t · g / (√s + eps)
    RMSprop   v = α·v + (1 - α)·g²                p -= lr · g / (√v + eps)
              centered: ḡ = α·ḡ + (1 - α)·g,      √(v - ḡ²) instead of √v   (a variance, not a 2nd moment)
              momentum: b = μ·b + g/(√v + eps),   p -= lr · b
    Adadelta  v = ρ·v + (1 - ρ)·g²
              Δ = √(u + eps) / √(v + eps) · g     (no learning rate needed: units of p / units of g)
              u = ρ·u + (1 - ρ)·Δ²                p -= lr · Δ

Where eps goes matters: Adagrad and RMSprop add it *outside* the square root, Adadelta *inside*
both. With gradients of 1e-4 the two placements give steps that differ by orders of magnitude.
weight_decay adds weight_decay·p to g first (L2). Parameters whose grad is None are skipped, and
each parameter keeps its own state (its own step count too) in self.state[p].
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


class Adagrad(torch.optim.Optimizer):
    """Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10).

    The learning rate at a parameter's t-th update (t = 1, 2, ...) is lr / (1 + (t - 1)·lr_decay).
    State per parameter: "step" (its number of updates) and "sum" (starts at initial_accumulator_value).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        if lr < 0 or eps < 0 or initial_accumulator_value < 0:
            raise ValueError(f"invalid hyper-parameter: lr={lr}, eps={eps}")
        defaults = dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, initial_accumulator_value=initial_accumulator_value, eps=eps
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self) -> None:
        """One Adagrad update of every parameter that has a gradient."""
        # TODO: create a parameter's state on its first update; the accumulator starts at
        #       initial_accumulator_value, not necessarily 0.
        # TODO: eps is added to the square root of the sum, not inside it.
        raise NotImplementedError("step() is not implemented yet")


class RMSprop(torch.optim.Optimizer):
    """RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False).

    State per parameter: "square_avg" (v, starts at 0), "grad_avg" (ḡ, centered only, starts at 0)
    and "momentum_buffer" (b, momentum > 0 only, starts at 0).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        if lr < 0 or eps < 0 or momentum < 0 or not 0 <= alpha <= 1:
            raise ValueError(f"invalid hyper-parameter: lr={lr}, alpha={alpha}, eps={eps}, momentum={momentum}")
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self) -> None:
        """One RMSprop update of every parameter that has a gradient."""
        # TODO: the running averages start at zero; α weights the *old* average.
        # TODO: eps is added after the square root; centered subtracts ḡ² under the root.
        raise NotImplementedError("step() is not implemented yet")


class Adadelta(torch.optim.Optimizer):
    """Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0).

    State per parameter: "square_avg" (v) and "acc_delta" (u), both starting at 0.
    """

    def __init__(
        self, params: Params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0
    ) -> None:
        if lr < 0 or eps < 0 or not 0 <= rho <= 1:
            raise ValueError(f"invalid hyper-parameter: lr={lr}, rho={rho}, eps={eps}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self) -> None:
        """One Adadelta update of every parameter that has a gradient."""
        # TODO: eps goes inside both square roots; u is updated with the new Δ, after Δ is computed.
        raise NotImplementedError("step() is not implemented yet")
