"""Deep Q-learning pieces: a replay buffer, DQN and Double DQN targets, and the DQN loss.

DQN (Mnih et al., 2015) learns offline from past experience: transitions (s, a, r, s', done) go
into a replay buffer, and each update samples a random minibatch from it, which breaks the
correlation between consecutive steps. The buffer is a ring of fixed capacity: once it is full,
each new transition overwrites the oldest one.

The regression target of Q_online(s, a) comes from a separate, slowly updated target network:
    y = r + γ (1 - done) max_a' Q_target(s', a')
and is a constant for the update (no gradient flows into it); a terminal s' contributes nothing.
Double DQN (van Hasselt et al., 2016) reduces the max's overestimation by letting the online
network choose the next action and the target network evaluate it:
    y = r + γ (1 - done) Q_target(s', argmax_a' Q_online(s', a')).
The loss is the Huber loss (F.smooth_l1_loss, δ = 1) between Q_online(s, a) and y.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

QNetwork = Callable[[torch.Tensor], torch.Tensor]  # states (B, obs) -> action values (B, A)


class ReplayBuffer:
    """A ring buffer of transitions (s, a, r, s2, done), sampled uniformly with replacement.

    push(s, a, r, s2, done): s and s2 are tensors of shape (obs,), a an int, r a float, done a bool.
    The i-th transition pushed (counting from 0) goes into slot i % capacity.
    sample(batch_size, generator): slots = torch.randint(0, len(self), (batch_size,),
    generator=generator); returns (s (B, obs) float, a (B,) long, r (B,) float64, s2 (B, obs),
    done (B,) float64 of 0/1), the transitions in those slots.
    """

    def __init__(self, capacity: int) -> None:
        # TODO: storage for `capacity` transitions and the position of the next write.
        raise NotImplementedError("__init__() is not implemented yet")

    def __len__(self) -> int:
        """The number of transitions stored (at most capacity)."""
        raise NotImplementedError("__len__() is not implemented yet")

    def push(self, s: torch.Tensor, a: int, r: float, s2: torch.Tensor, done: bool) -> None:
        """Store one transition, overwriting the oldest once the buffer is full."""
        # TODO: write into the next slot of the ring.
        raise NotImplementedError("push() is not implemented yet")

    def sample(
        self, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """A minibatch of batch_size stored transitions, drawn uniformly with replacement."""
        # TODO: draw slots among the filled ones only, then stack each field.
        raise NotImplementedError("sample() is not implemented yet")


def dqn_targets(
    r: torch.Tensor, s2: torch.Tensor, done: torch.Tensor, q_target: QNetwork, gamma: float
) -> torch.Tensor:
    """DQN targets y = r + γ (1 - done) max_a' q_target(s2)[a'], with no gradient.

    r: (B,); s2: (B, obs); done: (B,) bool or 0/1; q_target maps (B, obs) to (B, A).
    Returns: (B,) in r's dtype, not requiring grad.
    """
    # TODO: evaluate the target network without recording a graph, mask terminal transitions.
    raise NotImplementedError("dqn_targets() is not implemented yet")


def double_dqn_targets(
    r: torch.Tensor, s2: torch.Tensor, done: torch.Tensor, q_online: QNetwork, q_target: QNetwork, gamma: float
) -> torch.Tensor:
    """Double DQN targets: the online network picks a' = argmax q_online(s2), the target network values it.

    Shapes as dqn_targets. Returns: (B,) in r's dtype, not requiring grad.
    """
    # TODO: argmax from one network, value from the other; mask terminal transitions.
    raise NotImplementedError("double_dqn_targets() is not implemented yet")


def dqn_loss(q_values: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The Huber loss (δ = 1, mean over the batch) between Q(s, a) of the actions taken and the targets.

    q_values: (B, A) online Q-values of the states s; actions: (B,) long; targets: (B,).
    Returns: a scalar tensor; gradients flow into q_values only, at the chosen actions.
    """
    # TODO: pick each row's Q-value at its action, then F.smooth_l1_loss against detached targets.
    raise NotImplementedError("dqn_loss() is not implemented yet")
