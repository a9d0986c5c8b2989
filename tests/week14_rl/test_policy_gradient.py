"""Hidden tests of week 14, policy_gradient.py: the REINFORCE loss with a baseline.

Values are compared with -mean(log π · A) computed here, with the classic mistakes (the sign
flipped, a sum instead of a mean, the unbiased std) recomputed and named. The gradient is compared
with the analytic score-function gradient of a 2-armed softmax policy, (e_a - π)·A per sample, so
a flipped sign shows as a gradient that ascends the loss. Autograd must not reach the returns or
the baseline, and a Monte Carlo estimate over many seeded pulls shows that a baseline leaves the
expected gradient unchanged while shrinking its variance.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import SHAPES, assert_close, fail, generator, randn

pytestmark = pytest.mark.exercise("policy_gradient")

REWARDS = torch.tensor([0.2, 1.0], dtype=torch.float64)  # arm 1 is the better one


def _two_armed(m, theta, actions, returns, baseline, normalize):
    leaf = theta.clone().requires_grad_()
    log_probs = torch.log_softmax(leaf, dim=0)[actions]
    base = None if baseline is None else baseline.clone().requires_grad_()
    ret = returns.clone().requires_grad_()
    loss = m.reinforce_loss(log_probs, ret, base, normalize)
    loss.backward()
    return {
        "loss": loss.detach(),
        "grad": leaf.grad,
        "baseline_grad": None if base is None else base.grad,
        "returns_grad": ret.grad,
    }


def _pull_arms(seed, n, theta):
    probs = torch.softmax(theta, 0)
    actions = torch.multinomial(probs, n, replacement=True, generator=generator(seed))
    return actions, REWARDS[actions] + 0.5 * randn(n, seed=seed + 1)


def score_gradient(theta, actions, advantages):
    """Minus the REINFORCE estimate, by hand: -mean_i A_i (onehot(a_i) - π)."""
    probs = torch.softmax(theta, 0)
    onehot = torch.nn.functional.one_hot(actions, 2).double()
    return -((onehot - probs) * advantages.view(-1, 1)).mean(0)


# --- values ---------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("The loss is minus the mean over all steps of log π(a|s) times the advantage.")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_reinforce_loss_value(student, shape):
    log_probs = -randn(*shape, seed=1).abs()
    returns = randn(*shape, seed=2, scale=2.0)
    want = -(log_probs * returns).mean()
    assert_close(
        student.reinforce_loss(log_probs, returns),
        want,
        mistakes={
            "the loss has the wrong sign: minimizing it would make the well-rewarded actions less likely": -want,
            "the terms were summed, not averaged": want * log_probs.numel(),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("The advantage is the return minus the baseline.")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_reinforce_loss_with_baseline(student, shape):
    log_probs = -randn(*shape, seed=3).abs()
    returns, baseline = randn(*shape, seed=4, scale=2.0), randn(*shape, seed=5)
    want = -(log_probs * (returns - baseline)).mean()
    assert_close(
        student.reinforce_loss(log_probs, returns, baseline),
        want,
        mistakes={
            "the baseline was added, not subtracted": -(log_probs * (returns + baseline)).mean(),
            "the baseline was ignored": -(log_probs * returns).mean(),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "Standardise the advantages over the whole batch: subtract the mean, divide by the population std (correction=0) plus 1e-8."
)
@pytest.mark.parametrize("shape", [(2, 3), (7, 5), (2, 3, 4)], ids=str)
def test_reinforce_loss_normalized(student, shape):
    log_probs = -randn(*shape, seed=6).abs()
    returns, baseline = randn(*shape, seed=7, scale=3.0) + 2.0, randn(*shape, seed=8)
    adv = returns - baseline
    want = -(log_probs * (adv - adv.mean()) / (adv.std(correction=0) + 1e-8)).mean()
    assert_close(
        student.reinforce_loss(log_probs, returns, baseline, normalize=True),
        want,
        mistakes={
            "the unbiased std (correction=1) was used, not the population std": -(
                log_probs * (adv - adv.mean()) / (adv.std() + 1e-8)
            ).mean(),
            "the advantages were divided by their std but not centred": -(
                log_probs * adv / (adv.std(correction=0) + 1e-8)
            ).mean(),
            "the advantages were centred but not divided by their std": -(log_probs * (adv - adv.mean())).mean(),
            "the normalisation ran over the last dimension only, not the whole batch": -(
                log_probs * (adv - adv.mean(-1, keepdim=True)) / (adv.std(-1, correction=0, keepdim=True) + 1e-8)
            ).mean(),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "When every advantage is equal the std is 0: the 1e-8 keeps the division finite, and a batch of one normalises to 0."
)
def test_reinforce_loss_normalized_constant_advantages(student):
    log_probs = -randn(6, seed=9).abs()
    got = student.reinforce_loss(log_probs, torch.full((6,), 3.0, dtype=torch.float64), None, True)
    if isinstance(got, torch.Tensor) and torch.isnan(got).any():
        fail("NaN when every advantage is equal: their std is 0, so the division needs its small epsilon")
    assert_close(got, torch.tensor(0.0, dtype=torch.float64), what="loss for constant returns")
    single = student.reinforce_loss(log_probs[:1], torch.tensor([2.5], dtype=torch.float64), None, True)
    assert_close(single, torch.tensor(0.0, dtype=torch.float64), what="loss of a batch of one")


# --- gradients ------------------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.hint(
    "Optimizers minimize: which sign makes a gradient step raise the probability of well-rewarded actions?"
)
@pytest.mark.parametrize("n", [1, 9, 64])
def test_reinforce_gradient_on_a_two_armed_bandit(student, n):
    theta = torch.tensor([0.3, -0.2], dtype=torch.float64)
    actions, returns = _pull_arms(10 + n, n, theta)
    got = student.run(_two_armed, theta, actions, returns, None, False)
    want = score_gradient(theta, actions, returns)
    assert_close(
        got["grad"],
        want,
        what="gradient w.r.t. the logits",
        mistakes={"gradient ascends the loss: the policy-gradient loss has the wrong sign": -want},
    )
    if got["returns_grad"] is not None and got["returns_grad"].abs().sum() > 0:
        fail("the loss sends gradient into the returns: they are constants (detach them)")


@pytest.mark.points(3)
@pytest.mark.hint(
    "The baseline is a constant for the policy's update: detach it, so the critic is trained only by its own loss."
)
def test_reinforce_baseline_is_detached(student):
    theta = torch.tensor([0.1, 0.4], dtype=torch.float64)
    actions, returns = _pull_arms(3, 12, theta)
    baseline = torch.full((12,), 0.6, dtype=torch.float64)
    got = student.run(_two_armed, theta, actions, returns, baseline, False)
    if got["baseline_grad"] is not None and got["baseline_grad"].abs().sum() > 0:
        fail("the baseline is not detached: the policy loss sends gradient into the baseline")
    assert_close(got["grad"], score_gradient(theta, actions, returns - baseline), what="gradient w.r.t. the logits")


@pytest.mark.points(3)
@pytest.mark.hint(
    "E[∇log π(a)] = 0, so a baseline that does not depend on the action changes no expectation; "
    "a good one (near the mean reward) makes the estimate less noisy."
)
def test_reinforce_baseline_keeps_the_expected_gradient(student):
    theta = torch.tensor([0.5, -0.5], dtype=torch.float64)
    probs = torch.softmax(theta, 0)
    exact = -torch.stack(
        [probs[k] * REWARDS[k] * (torch.eye(2, dtype=torch.float64)[k] - probs) for k in range(2)]
    ).sum(0)
    batches = {"none": [], "baseline": []}
    for seed in range(40):
        actions, returns = _pull_arms(100 + seed, 50, theta)
        batches["none"].append(student.run(_two_armed, theta, actions, returns, None, False)["grad"])
        mean_reward = float((probs * REWARDS).sum())
        batches["baseline"].append(
            student.run(
                _two_armed, theta, actions, returns, torch.full((50,), mean_reward, dtype=torch.float64), False
            )["grad"]
        )
    plain, based = torch.stack(batches["none"]), torch.stack(batches["baseline"])
    for name, grads in (("without a baseline", plain), ("with a baseline", based)):
        error = (grads.mean(0) - exact).abs().max()
        if error > 4 * grads.std(0).max() / 40**0.5 + 1e-3:
            fail(f"the mean gradient {name} is {grads.mean(0).tolist()}, not the policy gradient {(exact).tolist()}")
    if based.var(0).sum() >= plain.var(0).sum():
        fail("a baseline at the mean reward did not reduce the variance of the gradient")
