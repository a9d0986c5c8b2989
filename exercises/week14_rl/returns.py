"""Discounted returns and generalised advantage estimation (GAE) on rollouts.

A rollout is T steps of N environments run side by side: rewards[t, n] is the reward received
after the action at step t in environment n, and dones[t, n] is True when that step ended the
episode. Tensors are (T, N), or (T,) for a single environment; time is always dimension 0.

The discounted return sums the future rewards of the *same* episode:
    G_t = r_t + γ (1 - d_t) G_{t+1},
so the sum restarts after every done. Past the last step T - 1 the rollout was cut short
(truncated, not ended): its return continues with `bootstrap`, an estimate of the value of the
state after the last step (one per environment), unless the last step itself ended the episode.

GAE (Schulman et al., 2016) mixes the one-step TD errors with weight (γλ)^k:
    δ_t = r_t + γ (1 - d_t) V_{t+1} - V_t,          V_T = last_value,
    A_t = δ_t + γ λ (1 - d_t) A_{t+1},              A_T = 0.
With λ = 0 the advantage is the TD error δ_t; with λ = 1 it is G_t - V_t (the returns bootstrapped
with last_value). Neither ever looks past an episode's end.
"""

from __future__ import annotations

import torch


def discounted_returns(
    rewards: torch.Tensor, dones: torch.Tensor, gamma: float, bootstrap: float | torch.Tensor = 0.0
) -> torch.Tensor:
    """Discounted returns G_t of a rollout, computed backwards in time.

    rewards: (T,) or (T, N), floating point. dones: same shape, bool or 0/1 (True: the episode
    ended at this step). bootstrap: a number or a tensor of shape rewards.shape[1:], the value of
    the state after the last step (ignored where the last step is done).
    Returns: a tensor of rewards' shape and dtype.
    """
    # TODO: walk t from T - 1 down to 0, carrying the running return; a done step starts afresh.
    raise NotImplementedError("discounted_returns() is not implemented yet")


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
    lam: float,
    last_value: float | torch.Tensor,
) -> torch.Tensor:
    """Generalised advantage estimates A_t of a rollout.

    rewards, values, dones: (T,) or (T, N); values[t] = V(s_t), the critic's estimate of the state
    at step t. last_value: a number or a tensor of shape rewards.shape[1:], V of the state after the
    last step. Returns: advantages of rewards' shape and dtype (no gradient flows into values).
    """
    # TODO: compute the TD errors with V_{t+1} masked at episode ends, then accumulate them
    # backwards with factor γλ, again restarting at every done.
    raise NotImplementedError("gae() is not implemented yet")
