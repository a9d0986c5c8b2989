"""Exploration and exploitation: ε-greedy, UCB and a multi-armed bandit.

A K-armed bandit has one state and K actions ("arms"); pulling arm a pays a reward drawn from
N(means[a], reward_std²). The agent keeps, for each arm, the number of pulls n[a] and the sample
mean Q[a] of the rewards it paid, and must balance exploiting the arm that looks best with
exploring the others. Regret after T pulls is Σ_t (max_a means[a] - means[a_t]).

ε-greedy: with probability ε pick an arm uniformly at random (possibly the greedy one), otherwise
the greedy arm argmax Q. Ties go to the lowest index, as torch.argmax does. So the greedy arm is
chosen with probability 1 - ε + ε/K.

UCB1 (Auer et al., 2002): first pull every arm once, in index order; then pick
argmax_a Q[a] + c·sqrt(ln t / n[a]), where t is the total number of pulls so far.
"""

from __future__ import annotations

import math

import torch


def epsilon_greedy(q: torch.Tensor, eps: float, generator: torch.Generator) -> torch.Tensor:
    """ε-greedy actions for a batch of action-value rows.

    q: (..., A) action values (one row per state). eps in [0, 1].
    generator: every random number comes from it: first u = torch.rand(q.shape[:-1]) decides
    who explores (u < eps), then torch.randint(0, A, q.shape[:-1]) gives the random actions.
    Returns: a LongTensor of shape q.shape[:-1].
    """
    # TODO: the greedy action of each row, replaced by a uniformly random one where the row explores.
    raise NotImplementedError("epsilon_greedy() is not implemented yet")


def ucb_action(counts: torch.Tensor, values: torch.Tensor, t: int, c: float) -> int:
    """The arm UCB1 pulls next.

    counts: (K,) pulls of each arm so far; values: (K,) their sample-mean rewards; t: total pulls
    so far (t = counts.sum()); c >= 0: the exploration weight.
    Returns: a Python int, the first arm never pulled if there is one, otherwise the argmax of
    values + c·sqrt(ln t / counts) (lowest index on ties).
    """
    # TODO: untried arms come first; then the upper confidence bound.
    raise NotImplementedError("ucb_action() is not implemented yet")


def run_bandit(
    means: torch.Tensor,
    steps: int,
    method: str,
    generator: torch.Generator,
    eps: float = 0.1,
    c: float = 2.0,
    reward_std: float = 1.0,
) -> torch.Tensor:
    """Play a Gaussian bandit for `steps` pulls and return the arms pulled.

    means: (K,) the arms' mean rewards. method: "epsilon" (ε-greedy with `eps`) or "ucb" (UCB1
    with `c`). Estimates start at Q = 0, n = 0; after each pull, n[a] += 1 and Q[a] moves to the
    sample mean: Q[a] += (r - Q[a]) / n[a]. Rewards are means[a] + reward_std·z with
    z = torch.randn((), generator=generator, dtype=torch.float64), drawn after choosing the arm
    (ε-greedy draws its own numbers from the same generator, with epsilon_greedy's rule).
    Returns: a LongTensor of shape (steps,), the arm pulled at each step.
    """
    # TODO: keep counts and value estimates, choose with epsilon_greedy or ucb_action, pull, update.
    raise NotImplementedError("run_bandit() is not implemented yet")
