"""REINFORCE: the policy-gradient loss, with an optional baseline and advantage normalisation.

The policy-gradient theorem says that the gradient of the expected return J(θ) is
    ∇J = E[ Σ_t ∇ log π_θ(a_t | s_t) · (G_t - b(s_t)) ],
for any baseline b that does not depend on the action: subtracting it leaves the expectation
unchanged (E[∇ log π] = 0) but can shrink the variance a lot. Optimizers *minimize*, so the loss
whose gradient is -∇J is
    loss = -mean_t( log π(a_t | s_t) · A_t ),     A_t = G_t - b(s_t),
where A_t is a constant for this update: gradients flow only through log π, never into the returns
or the baseline (a learned baseline is trained by its own loss, see actor_critic.py).

With normalize=True the advantages are standardised over the whole batch before use:
A ← (A - mean A) / (std A + 1e-8), with the population standard deviation (correction = 0).
"""

from __future__ import annotations

import torch

EPS = 1e-8


def reinforce_loss(
    log_probs: torch.Tensor,
    returns: torch.Tensor,
    baseline: torch.Tensor | None = None,
    normalize: bool = False,
) -> torch.Tensor:
    """The REINFORCE loss, a scalar whose gradient is minus the policy-gradient estimate.

    log_probs: any shape, log π(a_t | s_t) of the actions taken (carries the gradient).
    returns: same shape, the returns G_t. baseline: None or same shape, b(s_t).
    Returns: a scalar tensor, -mean(log_probs · advantages), advantages detached.
    """
    # TODO: advantages from returns and (if given) the baseline, normalised if asked, then the mean.
    ### BEGIN SOLUTION
    advantages = returns.detach()
    if baseline is not None:
        advantages = advantages - baseline.detach()
    if normalize:
        advantages = (advantages - advantages.mean()) / (advantages.std(correction=0) + EPS)
    return -(log_probs * advantages).mean()
    ### END SOLUTION
