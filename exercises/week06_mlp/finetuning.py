"""Fine-tuning tools: freezing a backbone, per-group learning rates, and gradient reversal.

Parameters and sub-modules are named by their path of attributes: "backbone.0.weight",
"head.bias". A prefix names a sub-tree: "backbone" covers "backbone.0.weight" and
"backbone.1.running_mean" but not "backbone2.weight", nor "head.backbone.weight".

Freezing a parameter (requires_grad = False) stops its gradient, so the optimizer leaves it
alone. A BatchNorm in a frozen part has one more piece of state that is not a parameter: its
running statistics, which it updates on every forward pass in training mode. The classic bug:
freeze the backbone, then call model.train() for the new head, and the frozen backbone's
statistics drift to the new data.

Gradient reversal (Ganin & Lempitsky, domain-adversarial training) is the identity on the
forward pass and multiplies the gradient by -λ on the backward pass: the layers below it learn
to *increase* the loss of whatever is above it (a domain classifier).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    """True when `name` is one of `prefixes` or lies inside one of them ("a.b" is inside "a")."""
    # TODO: a prefix must match whole path components: "fc" covers "fc.weight", not "fc2.weight".
    raise NotImplementedError("_under() is not implemented yet")


def _stay_in_eval(self: nn.Module, mode: bool = True) -> nn.Module:
    """A frozen BatchNorm's train(): whatever mode is asked, it stays in eval mode. (Given.)"""
    return nn.Module.train(self, False)


def freeze(module: nn.Module, trainable: Iterable[str]) -> None:
    """Make exactly the parameters under one of the `trainable` prefixes trainable.

    Every parameter of `module` whose name is under a prefix in `trainable` gets
    requires_grad = True, every other one requires_grad = False (so calling freeze again
    re-decides everything). Every BatchNorm (nn.BatchNorm1d/2d/3d) that is not under a trainable
    prefix is put in eval mode and stays there, even after module.train(): it normalizes with its
    running statistics and never updates them. Give it the train() method `_stay_in_eval` (an
    attribute set on the instance wins over the class's method); a BatchNorm under a trainable
    prefix gets its normal train() back.
    """
    # TODO: parameters first (named_parameters), then the BatchNorms (named_modules; they all
    #       derive from nn.modules.batchnorm._BatchNorm).
    raise NotImplementedError("freeze() is not implemented yet")


def param_groups(model: nn.Module, head_lr: float, base_lr: float, head: str = "head") -> list[dict[str, Any]]:
    """Parameter groups for a torch optimizer: the head's parameters at head_lr, the rest at base_lr.

    The head is the sub-tree named by the prefix `head`. Only trainable parameters
    (requires_grad) go into a group, each exactly once; a group with no parameters is left out.
    Returns: a list of dicts {"params": [...], "lr": ...}, e.g. for torch.optim.SGD(groups, lr=...).
    """
    # TODO: one pass over named_parameters, sorting each trainable parameter into one of two lists.
    raise NotImplementedError("param_groups() is not implemented yet")


class GradReverse(torch.autograd.Function):
    """y = GradReverse.apply(x, lambd): y = x on the way forward, dL/dx = -lambd · dL/dy on the way back.

    lambd: a float >= 0 (0 blocks the gradient entirely). It is not a tensor and gets no gradient.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
        # TODO: keep lambd for the backward pass (on ctx); return a new tensor equal to x (a view
        #       or a copy), not x itself.
        raise NotImplementedError("forward() is not implemented yet")

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        # TODO: one gradient per input of forward, in order (None for an input without one).
        raise NotImplementedError("backward() is not implemented yet")


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """GradReverse.apply(x, lambd), for use inside a model's forward. (Given.)"""
    return GradReverse.apply(x, lambd)
