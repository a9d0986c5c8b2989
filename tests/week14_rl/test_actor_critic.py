"""Hidden tests of week 14, actor_critic.py: the three losses of an advantage actor-critic update.

The losses are compared with torch: Categorical(logits=...).log_prob and .entropy() for the actor
and the entropy bonus, F.mse_loss for the critic, with the advantage built from detached values.
Gradients are probed separately: the actor's loss must send nothing into the critic's values,
the value loss nothing into the logits. A short seeded training run on a two-armed bandit with
torch.optim.Adam checks the first update and that the policy ends up on the better arm.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Categorical

from grader.testing import assert_close, fail, rand_labels, rand_logits, randn

pytestmark = pytest.mark.exercise("actor_critic")

SIZES = [(1, 2), (5, 3), (8, 6)]


def inputs(batch, actions, seed):
    return (
        rand_logits(batch, actions, seed=seed),
        rand_labels(batch, num_classes=actions, seed=seed + 1),
        randn(batch, seed=seed + 2),
        randn(batch, seed=seed + 3, scale=2.0),
    )


def _losses_and_grads(m, logits, actions, values, returns, value_coef, entropy_coef):
    logit_leaf, value_leaf = logits.clone().requires_grad_(), values.clone().requires_grad_()
    parts = m.actor_critic_losses(logit_leaf, actions, value_leaf, returns, value_coef, entropy_coef)
    out = {"losses": [p.detach() for p in parts], "grads": []}
    for part in parts:
        found = torch.autograd.grad(part, [logit_leaf, value_leaf], retain_graph=True, allow_unused=True)
        out["grads"].append(
            [torch.zeros_like(x) if g is None else g for g, x in zip(found, (logit_leaf, value_leaf), strict=True)]
        )
    return out


def _train_bandit(m, steps, seed):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # hundreds of tiny backward passes: one thread is much faster
    try:
        g = torch.Generator().manual_seed(seed)
        logits = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        value = torch.zeros((), dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.Adam([logits, value], lr=0.05)
        means = torch.tensor([0.0, 1.0], dtype=torch.float64)
        first = None
        for step in range(steps):
            batch_logits = logits.unsqueeze(0).repeat(16, 1)
            with torch.no_grad():
                actions = torch.multinomial(torch.softmax(logits, 0), 16, replacement=True, generator=g)
                rewards = means[actions] + 0.3 * torch.randn(16, generator=g, dtype=torch.float64)
            policy_loss, value_loss, entropy_loss = m.actor_critic_losses(
                batch_logits, actions, value.repeat(16), rewards, 0.5, 0.01
            )
            optimizer.zero_grad()
            (policy_loss + value_loss + entropy_loss).backward()
            if step == 0:
                first = {
                    "logits": logits.grad.clone(),
                    "value": value.grad.clone(),
                    "actions": actions,
                    "rewards": rewards,
                }
            optimizer.step()
        return {"first": first, "probs": torch.softmax(logits.detach(), 0), "value": value.detach()}
    finally:
        torch.set_num_threads(threads)


def torch_losses(logits, actions, values, returns, value_coef, entropy_coef):
    dist = Categorical(logits=logits)
    policy = -(dist.log_prob(actions) * (returns - values.detach())).mean()
    return policy, value_coef * F.mse_loss(values, returns), -entropy_coef * dist.entropy().mean()


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "policy_loss = −mean(log π(a|s)·(G − V)); use a log-softmax of the logits and pick each row's action."
)
@pytest.mark.parametrize("size", SIZES, ids=str)
def test_policy_loss(student, size):
    logits, actions, values, returns = inputs(*size, seed=sum(size))
    got = student.run(_losses_and_grads, logits, actions, values, returns, 0.5, 0.01)["losses"]
    want = torch_losses(logits, actions, values, returns, 0.5, 0.01)[0]
    log_p = Categorical(logits=logits).log_prob(actions)
    assert_close(
        got[0],
        want,
        what="policy_loss",
        mistakes={
            "the policy loss has the wrong sign, or the advantage is V − G (gradient ascends the loss)": -want,
            "the returns were used without subtracting the values": -(log_p * returns).mean(),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("value_loss = value_coef · mean((V − G)²): the plain MSE, no factor ½, weighted by value_coef.")
@pytest.mark.parametrize("size", SIZES, ids=str)
def test_value_loss(student, size):
    logits, actions, values, returns = inputs(*size, seed=10 + sum(size))
    got = student.run(_losses_and_grads, logits, actions, values, returns, 0.25, 0.01)["losses"]
    mse = F.mse_loss(values, returns)
    assert_close(
        got[1],
        0.25 * mse,
        what="value_loss",
        mistakes={
            "the MSE has an extra factor ½": 0.125 * mse,
            "value_coef was not applied": mse,
            "the squared errors were summed, not averaged": 0.25 * mse * size[0],
        }
        if size[0] > 1
        else {"the MSE has an extra factor ½": 0.125 * mse, "value_coef was not applied": mse},
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "entropy_loss = −entropy_coef · mean entropy: minimizing it must raise the entropy. H = −Σ p·log p per row."
)
@pytest.mark.parametrize("size", SIZES, ids=str)
def test_entropy_loss(student, size):
    logits, actions, values, returns = inputs(*size, seed=20 + sum(size))
    got = student.run(_losses_and_grads, logits, actions, values, returns, 0.5, 0.05)["losses"]
    entropy = Categorical(logits=logits).entropy()
    assert_close(
        got[2],
        -0.05 * entropy.mean(),
        what="entropy_loss",
        mistakes={
            "the entropy term has the wrong sign: minimizing it would lower the entropy": 0.05 * entropy.mean(),
            "entropy_coef was not applied": -entropy.mean(),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "Compute log-probabilities with a log-softmax: softmax followed by log gives log 0 = −inf for very unlikely actions."
)
def test_losses_stay_finite_for_confident_policies(student):
    logits = torch.tensor([[800.0, -800.0, 0.0], [-700.0, 700.0, 10.0]], dtype=torch.float64)
    actions, values, returns = (
        torch.tensor([1, 0]),
        torch.zeros(2, dtype=torch.float64),
        torch.ones(2, dtype=torch.float64),
    )
    got = student.run(_losses_and_grads, logits, actions, values, returns, 0.5, 0.01)["losses"]
    want = torch_losses(logits, actions, values, returns, 0.5, 0.01)
    if not all(torch.isfinite(part).all() for part in got):
        fail("a loss is inf or NaN for a confident policy: log(softmax(...)) underflows to log 0")
    assert_close(got[0], want[0], what="policy_loss for a confident policy")
    assert_close(got[2], want[2], what="entropy_loss for a confident policy")


@pytest.mark.points(3)
@pytest.mark.hint(
    "The advantage uses values.detach(): the actor's loss must not train the critic, and the critic's loss not the actor."
)
@pytest.mark.parametrize("size", SIZES[1:], ids=str)
def test_gradients_are_routed_to_the_right_network(student, size):
    logits, actions, values, returns = inputs(*size, seed=30 + sum(size))
    grads = student.run(_losses_and_grads, logits, actions, values, returns, 0.5, 0.01)["grads"]
    (policy_to_logits, policy_to_values), (value_to_logits, value_to_values), (entropy_to_logits, entropy_to_values) = (
        grads
    )
    if policy_to_values.abs().sum() > 0:
        fail("the actor's loss sends gradient into the critic's values: the advantage must use detached values")
    if value_to_logits.abs().sum() > 0 or entropy_to_values.abs().sum() > 0:
        fail("the value loss reaches the logits, or the entropy the values")
    leaf, value_leaf = logits.clone().requires_grad_(), values.clone().requires_grad_()
    ref_policy, ref_value, ref_entropy = torch_losses(leaf, actions, value_leaf.detach(), returns, 0.5, 0.01)
    (want_policy,) = torch.autograd.grad(ref_policy, leaf, retain_graph=True)
    (want_entropy,) = torch.autograd.grad(ref_entropy, leaf)
    (want_value,) = torch.autograd.grad(0.5 * F.mse_loss(value_leaf, returns), value_leaf)
    assert_close(policy_to_logits, want_policy, what="gradient of policy_loss w.r.t. the logits")
    assert_close(entropy_to_logits, want_entropy, what="gradient of entropy_loss w.r.t. the logits")
    assert_close(value_to_values, want_value, what="gradient of value_loss w.r.t. the values")


@pytest.mark.points(3)
@pytest.mark.hint(
    "With correct losses, a few hundred Adam steps put almost all probability on the better arm and V near its reward."
)
def test_actor_critic_learns_a_two_armed_bandit(student):
    got = student.run(_train_bandit, 150, 0)
    first = got["first"]
    logits = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    value = torch.zeros((), dtype=torch.float64, requires_grad=True)
    losses = torch_losses(
        logits.unsqueeze(0).repeat(16, 1), first["actions"], value.repeat(16), first["rewards"], 0.5, 0.01
    )
    sum(losses).backward()
    assert_close(first["logits"], logits.grad, what="first update's gradient w.r.t. the logits")
    assert_close(first["value"], value.grad, what="first update's gradient w.r.t. the value")
    if float(got["probs"][1]) < 0.9:
        fail(f"after 150 steps the better arm has probability {float(got['probs'][1]):.2f} (expected > 0.9)")
    if abs(float(got["value"]) - 1.0) > 0.2:
        fail(f"after 150 steps V = {float(got['value']):.2f}, far from the better arm's mean reward 1.0")
