"""Working with gradients: clipping by the global norm, and data-parallel gradient averaging.

Clipping (torch.nn.utils.clip_grad_norm_): treat the gradients of *all* parameters as one long
vector, take its norm `total` (the p-norm of the per-tensor p-norms; for p = inf, the largest
|g|), and if it exceeds max_norm scale every gradient by max_norm / (total + 1e-6). Gradients
already below max_norm are left alone: the coefficient is clamped at 1, never above.

Sharding (what data-parallel training does on several devices): split a batch of N examples into
n_shards contiguous shards, let each shard compute the gradient of its own *mean* loss, and
combine them into the gradient of the full-batch mean loss. When N is not a multiple of n_shards
the shards differ in size, and a shard's gradient must count in proportion to its size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch

LossFn = Callable[[Sequence[torch.Tensor], torch.Tensor, torch.Tensor], torch.Tensor]


def clip_grad_norm(
    params: torch.Tensor | Iterable[torch.Tensor], max_norm: float, norm_type: float = 2.0
) -> torch.Tensor:
    """Scale the gradients of `params` in place so that their global norm is at most max_norm.

    params: one tensor or an iterable of tensors; those whose .grad is None are ignored.
    norm_type: p of the p-norm, a float >= 1 or math.inf.
    Returns: the total norm *before* clipping, a 0-d tensor (of the gradients' dtype); 0. when no
    parameter has a gradient.
    """
    # TODO: one norm over all gradients together (not one per tensor), then one coefficient for all.
    # TODO: the coefficient is max_norm / (total + 1e-6), but never more than 1.
    raise NotImplementedError("clip_grad_norm() is not implemented yet")


def sharded_mean_grad(
    loss_fn: LossFn, params: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor, n_shards: int
) -> list[torch.Tensor]:
    """The full-batch gradient of the mean loss, computed shard by shard.

    loss_fn(params, X_shard, y_shard) returns the *mean* loss over the shard's examples (a 0-d tensor).
    params: tensors that require grad. X: (N, ...), y: (N, ...), split along dim 0 into n_shards
    contiguous shards as equal as possible (torch.tensor_split: sizes differ by at most one).
    Returns: one gradient per parameter (same shapes), equal to the gradient of
    loss_fn(params, X, y). Neither params nor their .grad are changed.
    Raises ValueError unless 1 <= n_shards <= N.
    """
    # TODO: per shard, torch.autograd.grad of its mean loss (not .backward(), which writes .grad).
    # TODO: combine the shards' gradients so that the result is the full batch's mean.
    raise NotImplementedError("sharded_mean_grad() is not implemented yet")
