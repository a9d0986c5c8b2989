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
        ### BEGIN SOLUTION
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["sum"] = torch.full_like(p, group["initial_accumulator_value"])
                state["step"] += 1
                grad = p.grad
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=group["weight_decay"])
                clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
                state["sum"].addcmul_(grad, grad, value=1)
                std = state["sum"].sqrt().add_(group["eps"])
                p.addcdiv_(grad, std, value=-clr)
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        for group in self.param_groups:
            alpha, eps = group["alpha"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.zeros_like(p)
                    if group["centered"]:
                        state["grad_avg"] = torch.zeros_like(p)
                    if group["momentum"] > 0:
                        state["momentum_buffer"] = torch.zeros_like(p)
                grad = p.grad
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=group["weight_decay"])
                square_avg = state["square_avg"]
                square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
                if group["centered"]:
                    grad_avg = state["grad_avg"]
                    grad_avg.mul_(alpha).add_(grad, alpha=1 - alpha)
                    avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
                else:
                    avg = square_avg.sqrt()
                avg = avg.add_(eps)
                if group["momentum"] > 0:
                    buf = state["momentum_buffer"]
                    buf.mul_(group["momentum"]).addcdiv_(grad, avg)
                    p.add_(buf, alpha=-group["lr"])
                else:
                    p.addcdiv_(grad, avg, value=-group["lr"])
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        for group in self.param_groups:
            rho, eps = group["rho"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.zeros_like(p)
                    state["acc_delta"] = torch.zeros_like(p)
                grad = p.grad
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=group["weight_decay"])
                square_avg, acc_delta = state["square_avg"], state["acc_delta"]
                square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
                std = square_avg.add(eps).sqrt_()
                delta = acc_delta.add(eps).sqrt_().div_(std).mul_(grad)
                acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
                p.add_(delta, alpha=-group["lr"])
        ### END SOLUTION
