"""★ Meta-learning with MAML (model-agnostic meta-learning): learn an initialisation that adapts fast.

Each task i has a training loss L_i^train and a validation loss L_i^val. MAML adapts the shared
parameters θ to a task with one gradient step, then judges the adapted parameters on the task's
validation loss:

    θ'_i = θ - α ∇L_i^train(θ)                       (maml_adapt)
    meta-loss = mean_i L_i^val(θ'_i)                 meta-gradient = its gradient w.r.t. θ

By the chain rule the meta-gradient of task i is (I - α ∇²L_i^train(θ)) ∇L_i^val(θ'_i): a
second-order term, a Hessian, comes from differentiating *through* the inner step. autograd
gives it to you if the inner gradient is itself part of the graph (create_graph=True).
First-order MAML drops the Hessian and uses ∇L_i^val(θ'_i) alone: cheaper, and different.

The shared θ are never modified: adaptation builds new tensors θ'_i.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

Loss = Callable[[list[torch.Tensor]], torch.Tensor]


def maml_adapt(loss_fn: Loss, params: Sequence[torch.Tensor], lr: float, create_graph: bool = True) -> list[torch.Tensor]:
    """One inner SGD step: [p - lr·∂loss_fn(params)/∂p for p in params], as new tensors.

    loss_fn: takes a list of tensors (like params) and returns a 0-d tensor.
    params: tensors that require grad. A parameter the loss does not use has a zero gradient.
    create_graph: keep the inner gradient in the graph, so that differentiating the result
    w.r.t. params includes the second-order term (I - lr·Hessian); with False the inner gradient
    is a constant and d(result)/d(params) is the identity.
    Returns: a list of tensors of the params' shapes; params themselves are unchanged.
    """
    # TODO: torch.autograd.grad (not .backward()), and no in-place update of params.
    ### BEGIN SOLUTION
    params = list(params)
    grads = torch.autograd.grad(loss_fn(params), params, create_graph=create_graph, allow_unused=True)
    return [p if g is None else p - lr * g for p, g in zip(params, grads, strict=True)]
    ### END SOLUTION


def maml_meta_grad(
    tasks: Sequence[tuple[Loss, Loss]], params: Sequence[torch.Tensor], lr: float, first_order: bool = False
) -> list[torch.Tensor]:
    """The MAML meta-gradient: ∂/∂params of mean over tasks of val_loss(maml_adapt(train_loss, params, lr)).

    tasks: a list of (train_loss, val_loss) pairs, each a function of a list of tensors.
    first_order: drop the second-order term (first-order MAML): the gradient of each task's
    validation loss at its adapted parameters, averaged over tasks.
    Returns: one tensor per parameter, of its shape. params and their .grad are left unchanged.
    """
    # TODO: adapt per task with maml_adapt, average the validation losses, differentiate once.
    ### BEGIN SOLUTION
    params = list(params)
    meta_loss = sum(val_loss(maml_adapt(train_loss, params, lr, create_graph=not first_order)) for train_loss, val_loss in tasks)
    meta_loss = meta_loss / len(tasks)
    grads = torch.autograd.grad(meta_loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]
    ### END SOLUTION
