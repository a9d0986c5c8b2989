"""Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW.

Adam keeps, per coordinate, running averages of the gradient (m) and of its square (v), both
starting at zero. Because they start at zero they are biased towards zero early on, and Adam
divides that bias out. At a parameter's t-th update (t = 1, 2, ...):

    m = β₁·m + (1 - β₁)·g            m̂ = m / (1 - β₁ᵗ)
    v = β₂·v + (1 - β₂)·g²           v̂ = v / (1 - β₂ᵗ)
    p = p - lr · m̂ / (√v̂ + eps)      (eps outside the square root)

So the very first step moves every coordinate by about lr, whatever the gradient's scale.
amsgrad keeps v_max = max(v_max, v) and uses v_max in place of v (bias-corrected the same way).

Weight decay, two ways:
  - Adam(weight_decay=λ) adds λ·p to g before everything else (an L2 penalty: it is then rescaled
    by the adaptive denominator like any gradient);
  - AdamW(weight_decay=λ) *decouples* it: p = p·(1 - lr·λ) first, then the Adam step with the raw g.
Parameters whose grad is None are skipped; each parameter has its own step count t.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


class Adam(torch.optim.Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False).

    State per parameter: "step" (t), "exp_avg" (m), "exp_avg_sq" (v) and, with amsgrad,
    "max_exp_avg_sq" (v_max).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid hyper-parameter: lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _adam_update(self, p: torch.Tensor, grad: torch.Tensor, group: dict[str, Any]) -> None:
        """The Adam step of one parameter p with gradient grad (weight decay already handled)."""
        # TODO: keep m, v (and v_max) in self.state[p], created at zero on p's first update,
        #       with p's own step count t.
        # TODO: divide out both biases; eps is added after the square root of the corrected v.
        ### BEGIN SOLUTION
        beta1, beta2 = group["betas"]
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(p)
        state["step"] += 1
        t = state["step"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        if group["amsgrad"]:
            torch.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            second = state["max_exp_avg_sq"]
        else:
            second = exp_avg_sq
        denom = (second.sqrt() / bias_correction2**0.5).add_(group["eps"])
        p.addcdiv_(exp_avg, denom, value=-group["lr"] / bias_correction1)
        ### END SOLUTION

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient (weight decay as an L2 term)."""
        # TODO: fold weight_decay·p into the gradient, then _adam_update.
        ### BEGIN SOLUTION
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=group["weight_decay"])
                self._adam_update(p, grad, group)
        ### END SOLUTION


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False).

    Adam with decoupled weight decay: the weights shrink by the factor (1 - lr·weight_decay)
    before the Adam step, and the gradient fed to the Adam step has no decay term in it.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

    @torch.no_grad()
    def step(self) -> None:
        """One AdamW update of every parameter that has a gradient (decoupled weight decay)."""
        # TODO: decay the weights themselves, then _adam_update with the raw gradient.
        ### BEGIN SOLUTION
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.mul_(1 - group["lr"] * group["weight_decay"])
                self._adam_update(p, p.grad, group)
        ### END SOLUTION
