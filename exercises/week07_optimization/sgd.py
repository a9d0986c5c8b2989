"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay, as torch.optim.SGD.

An optimizer owns a list of *parameter groups*: dicts holding a list of tensors ("params") and
the hyper-parameters that apply to them ("lr", "momentum", ...). `torch.optim.Optimizer`, the
base class, builds them from what you pass (a list of tensors, or a list of dicts that override
the defaults per group) and keeps per-parameter state in `self.state[p]` (a dict, empty at first).
You write what happens at each step, for every parameter p whose `p.grad` is not None:

    g = p.grad + weight_decay·p                         (L2 penalty folded into the gradient)
    b = g                          on the first step     (torch's convention: no zero start)
    b = momentum·b + (1 - dampening)·g   afterwards      (when momentum != 0)
    g = g + momentum·b   with nesterov,   g = b   without
    p = p - lr·g

A parameter whose grad is None did not take part in the loss: it is skipped, state and all.
Every update happens in place under torch.no_grad(), so autograd never sees it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class SGD(torch.optim.Optimizer):
    """SGD(params, lr=1e-3, momentum=0, dampening=0, nesterov=False, weight_decay=0), as torch.optim.SGD.

    params: an iterable of tensors, or of dicts {"params": [...], "lr": ..., ...} (parameter groups).
    The momentum buffer of parameter p lives in self.state[p]["momentum_buffer"].
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"invalid hyper-parameter: lr={lr}, momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient, in place, with its group's hyper-parameters."""
        # TODO: loop over self.param_groups, then over group["params"]; skip p when p.grad is None.
        # TODO: the first momentum buffer is a copy of the (decayed) gradient, not zeros; keep it in
        #       self.state[p] and update it in place afterwards.
        raise NotImplementedError("step() is not implemented yet")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: set it to None (default), or fill it with zeros in place."""
        # TODO: every parameter of every group; a grad that is already None stays None.
        raise NotImplementedError("zero_grad() is not implemented yet")
