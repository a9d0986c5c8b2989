"""The losses of an advantage actor-critic (A2C) update.

The actor is a policy π(a | s) = softmax(logits); the critic a value function V(s). On a batch of
steps with their returns G (from discounted_returns or GAE), one update minimises
    policy_loss  = -mean( log π(a | s) · A ),           A = G - V(s).detach()
    value_loss   = value_coef · mean( (V(s) - G)² )      (the MSE, no factor ½)
    entropy_loss = -entropy_coef · mean( H(π(· | s)) )   (minimising it raises the entropy)
and the total loss is their sum. The advantage uses the critic's values as constants, so the actor's
loss sends no gradient into the critic, and the critic is trained by the value loss alone. The
entropy bonus keeps the policy from collapsing to one action too early.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def actor_critic_losses(
    logits: torch.Tensor,
    actions: torch.Tensor,
    values: torch.Tensor,
    returns: torch.Tensor,
    value_coef: float = 0.5,
    entropy_coef: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(policy_loss, value_loss, entropy_loss) of one actor-critic update, each a scalar tensor.

    logits: (B, A) the actor's scores; actions: (B,) long, the actions taken; values: (B,) the
    critic's V(s); returns: (B,) the targets G. The three losses are already weighted as above,
    so (policy_loss + value_loss + entropy_loss).backward() is the whole update.
    """
    # TODO: log-probabilities of the actions taken with a stable log-softmax; advantages from detached values;
    # the entropy of each row's distribution.
    raise NotImplementedError("actor_critic_losses() is not implemented yet")
