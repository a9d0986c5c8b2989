"""Hidden tests of week 14, returns.py: discounted returns and GAE on (T, N) rollouts.

There is no torch built-in for either, so the expected values come from loop references written
here differently from a backward recursion: each return (or advantage) is the explicit sum
Σ_k γ^k r_{t+k} (or Σ_k (γλ)^k δ_{t+k}) over the rest of its own episode. The classic mistakes
(returns leaking across a done, bootstrapping past a terminal step, TD errors not masked) are
recomputed and named.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import assert_close, fail, generator, randn

pytestmark = pytest.mark.exercise("returns")

ROLLOUTS = [(1,), (7,), (6, 3), (5, 2, 3)]


def rollout(shape, seed, done_rate=0.25):
    rewards = randn(*shape, seed=seed)
    dones = torch.rand(shape, generator=generator(seed + 100)) < done_rate
    return rewards, dones


def returns_by_sums(rewards, dones, gamma, bootstrap=0.0, reset=True, mask_last=True):
    """G_t as the explicit discounted sum of the rewards up to the end of t's episode (or the rollout)."""
    steps = rewards.shape[0]
    flat_r, flat_d = rewards.reshape(steps, -1), dones.reshape(steps, -1).bool()
    tail = torch.zeros(flat_r.shape[1], dtype=rewards.dtype) + torch.as_tensor(bootstrap, dtype=rewards.dtype).reshape(
        -1
    )
    result = torch.zeros_like(flat_r)
    for env in range(flat_r.shape[1]):
        for start in range(steps):
            total, weight, ended = 0.0, 1.0, False
            for k in range(start, steps):
                total += weight * float(flat_r[k, env])
                weight *= gamma
                if reset and bool(flat_d[k, env]):
                    ended = True
                    break
            if not ended and not (mask_last and not reset and bool(flat_d[-1, env])):
                total += weight * float(tail[env])
            result[start, env] = total
    return result.reshape(rewards.shape)


def advantages_by_sums(rewards, values, dones, gamma, lam, last_value, mask_delta=True, mask_trace=True):
    """A_t = Σ_k (γλ)^k δ_{t+k} over the rest of t's episode, with δ built from masked next values."""
    steps = rewards.shape[0]
    live = 1.0 - dones.to(rewards.dtype)
    following = torch.cat([values[1:], (torch.zeros_like(values[:1]) + last_value)])
    td = rewards + gamma * (live if mask_delta else 1.0) * following - values
    result = torch.zeros_like(rewards)
    for start in range(steps):
        total = torch.zeros_like(rewards[0])
        weight = torch.ones_like(rewards[0])
        for k in range(start, steps):
            total = total + weight * td[k]
            weight = weight * gamma * lam * (live[k] if mask_trace else 1.0)
        result[start] = total
    return result


# --- discounted_returns -----------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "G_t = r_t + γ·G_{t+1}: the first reward is not discounted, later ones are, one factor of γ per step."
)
@pytest.mark.parametrize("shape", ROLLOUTS, ids=str)
def test_returns_without_episode_ends(student, shape):
    rewards = randn(*shape, seed=1)
    dones = torch.zeros(shape, dtype=torch.bool)
    want = returns_by_sums(rewards, dones, 0.9)
    forwards = returns_by_sums(rewards.flip(0), dones, 0.9).flip(0)
    assert_close(
        student.discounted_returns(rewards, dones, 0.9),
        want,
        mistakes={"the rewards are accumulated forwards in time (G_t should sum the future rewards)": forwards}
        if shape[0] > 1
        else None,
    )


@pytest.mark.points(3)
@pytest.mark.hint("What is the return after a terminal step? The next step belongs to a new episode.")
@pytest.mark.parametrize("shape", ROLLOUTS[1:], ids=str)
def test_returns_reset_at_episode_ends(student, shape):
    rewards, dones = rollout(shape, seed=2)
    dones[shape[0] // 2] = True  # an episode ends mid-rollout in every environment
    want = returns_by_sums(rewards, dones, 0.95)
    leaked = returns_by_sums(rewards, dones, 0.95, reset=False, mask_last=False)
    assert_close(
        student.discounted_returns(rewards, dones, 0.95),
        want,
        mistakes={"returns leak across episodes: the sum did not restart after a done": leaked},
    )


@pytest.mark.points(3)
@pytest.mark.hint(
    "The rollout was cut short: the return of an unfinished episode continues with the bootstrap value "
    "(discounted like a reward one step further), but an episode whose last step is done has no future."
)
def test_returns_bootstrap_truncated_episodes_only(student):
    rewards, dones = rollout((6, 4), seed=3)
    dones[-1] = torch.tensor([True, False, True, False])
    dones[:-1, 1] = False  # env 1: one long unfinished episode
    bootstrap = torch.tensor([5.0, -3.0, 2.0, 4.0], dtype=torch.float64)
    want = returns_by_sums(rewards, dones, 0.9, bootstrap)
    last_done_ignored = dones.clone()
    last_done_ignored[-1] = False
    past_terminal = returns_by_sums(rewards, last_done_ignored, 0.9, bootstrap)
    ignored = returns_by_sums(rewards, dones, 0.9)
    undiscounted = returns_by_sums(rewards, dones, 0.9, bootstrap / 0.9)
    assert_close(
        student.discounted_returns(rewards, dones, 0.9, bootstrap),
        want,
        mistakes={
            "bootstrapped past a terminal last step: an episode that ended has no future value": past_terminal,
            "the bootstrap value was ignored for the unfinished episodes": ignored,
            "the bootstrap value was added without its discount γ": undiscounted,
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint(
    "Build the result with rewards' dtype (torch.zeros_like / empty_like keep it); dones may be bool or 0/1."
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_returns_keep_dtype_and_accept_float_dones(student, dtype):
    rewards, dones = rollout((5, 2), seed=4)
    rewards = rewards.to(dtype)
    got_bool = student.discounted_returns(rewards, dones, 0.8, 1.5)
    got_float = student.discounted_returns(rewards, dones.to(dtype), 0.8, 1.5)
    for got in (got_bool, got_float):
        if isinstance(got, torch.Tensor) and got.dtype != dtype:
            fail(f"returns of dtype {got.dtype} for rewards of dtype {dtype}: keep the rewards' dtype")
    want = returns_by_sums(rewards.double(), dones, 0.8, 1.5).to(dtype)
    assert_close(got_bool, want, what="returns with bool dones")
    assert_close(got_float, want, what="returns with 0/1 float dones")


@pytest.mark.points(2)
@pytest.mark.hint(
    "γ = 0 keeps only the immediate reward; γ = 1 sums the rest of the episode; a single step is its reward (+ γ·bootstrap)."
)
def test_returns_edge_cases(student):
    rewards, dones = rollout((6, 3), seed=5)
    assert_close(student.discounted_returns(rewards, dones, 0.0), rewards, what="returns with gamma = 0")
    assert_close(
        student.discounted_returns(rewards, dones, 1.0, 2.0),
        returns_by_sums(rewards, dones, 1.0, 2.0),
        what="returns with gamma = 1",
    )
    one, no_end = randn(1, 4, seed=6), torch.zeros(1, 4, dtype=torch.bool)
    assert_close(student.discounted_returns(one, no_end, 0.5, 3.0), one + 1.5, what="returns of a single step")


# --- gae ------------------------------------------------------------------------------------------


def _gae_grad(m, rewards, values, dones, last_value):
    leaf = values.clone().requires_grad_()
    out = m.gae(rewards, leaf, dones, 0.9, 0.8, last_value)
    return {"requires_grad": bool(out.requires_grad), "value": out.detach()}


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("δ_t = r_t + γ·V_{t+1} − V_t, where V after the last step is last_value; A_t sums (γλ)^k δ_{t+k}.")
@pytest.mark.parametrize("shape", ROLLOUTS, ids=str)
def test_gae_without_episode_ends(student, shape):
    rewards, values = randn(*shape, seed=7), randn(*shape, seed=8)
    dones = torch.zeros(shape, dtype=torch.bool)
    last = randn(*shape[1:], seed=9) if len(shape) > 1 else torch.tensor(0.7, dtype=torch.float64)
    assert_close(
        student.gae(rewards, values, dones, 0.9, 0.8, last),
        advantages_by_sums(rewards, values, dones, 0.9, 0.8, last),
        mistakes={
            "last_value was ignored (V after the last step taken as 0)": advantages_by_sums(
                rewards, values, dones, 0.9, 0.8, 0.0
            ),
            # with one step there is no trace, so λ cannot show
            **(
                {
                    "the TD errors were summed with factor γ only: the γλ factor is missing its λ": advantages_by_sums(
                        rewards, values, dones, 0.9, 1.0, last
                    )
                }
                if shape[0] > 1
                else {}
            ),
        },
    )


@pytest.mark.points(3)
@pytest.mark.hint(
    "At a done step the next state belongs to a new episode: neither its value (in δ) nor the later "
    "advantages (in the γλ sum) may be used."
)
@pytest.mark.parametrize("shape", ROLLOUTS[1:], ids=str)
def test_gae_respects_episode_ends(student, shape):
    rewards, dones = rollout(shape, seed=10, done_rate=0.3)
    dones[shape[0] // 2] = True
    dones[-1] = False
    values = randn(*shape, seed=11)
    last = randn(*shape[1:], seed=12) if len(shape) > 1 else torch.tensor(-1.2, dtype=torch.float64)
    want = advantages_by_sums(rewards, values, dones, 0.95, 0.9, last)
    assert_close(
        student.gae(rewards, values, dones, 0.95, 0.9, last),
        want,
        mistakes={
            "bootstrapped from V of the next episode's first state: δ at a done step must not use V_{t+1}": advantages_by_sums(
                rewards, values, dones, 0.95, 0.9, last, mask_delta=False
            ),
            "advantages leak across episodes: the γλ sum did not restart after a done": advantages_by_sums(
                rewards, values, dones, 0.95, 0.9, last, mask_trace=False
            ),
            "done ignored entirely (neither δ nor the sum masked)": advantages_by_sums(
                rewards, values, dones, 0.95, 0.9, last, mask_delta=False, mask_trace=False
            ),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("With λ = 1 the TD errors telescope: the advantage is the bootstrapped return minus the value.")
def test_gae_lambda_one_is_returns_minus_values(student):
    rewards, dones = rollout((8, 3), seed=13)
    values, last = randn(8, 3, seed=14), randn(3, seed=15)
    want = returns_by_sums(rewards, dones, 0.9, last) - values
    assert_close(student.gae(rewards, values, dones, 0.9, 1.0, last), want)


@pytest.mark.points(2)
@pytest.mark.hint("With λ = 0 only the first TD error is left.")
def test_gae_lambda_zero_is_the_td_error(student):
    rewards, dones = rollout((8, 3), seed=16)
    values, last = randn(8, 3, seed=17), randn(3, seed=18)
    following = torch.cat([values[1:], last.unsqueeze(0)])
    td = rewards + 0.9 * following * (~dones) - values
    assert_close(
        student.gae(rewards, values, dones, 0.9, 0.0, last),
        td,
        mistakes={"the TD error used V_{t+1} across a done": rewards + 0.9 * following - values},
    )


@pytest.mark.points(1)
@pytest.mark.hint("Advantages are targets for the actor: compute them from values.detach() so no graph is kept.")
def test_gae_carries_no_gradient_and_keeps_dtype(student):
    rewards, dones = rollout((5, 2), seed=19)
    values, last = randn(5, 2, seed=20), randn(2, seed=21)
    got = student.run(_gae_grad, rewards.float(), values.float(), dones, last.float())
    if got["requires_grad"]:
        fail("the advantages require grad: they were computed from values without detaching")
    if got["value"].dtype != torch.float32:
        fail(f"advantages of dtype {got['value'].dtype} for float32 rewards: keep the rewards' dtype")
    want = advantages_by_sums(rewards, values, dones, 0.9, 0.8, last).float()
    assert_close(got["value"], want)


@pytest.mark.points(1)
@pytest.mark.hint("A rollout of one step: A_0 = r_0 + γ·last_value·(1 − done_0) − V_0 whatever λ is.")
def test_gae_single_step(student):
    rewards, values = randn(1, 3, seed=22), randn(1, 3, seed=23)
    dones = torch.tensor([[True, False, True]])
    last = torch.tensor([2.0, 2.0, 2.0], dtype=torch.float64)
    want = rewards + 0.9 * last * torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64) - values
    assert_close(
        student.gae(rewards, values, dones, 0.9, 0.5, last),
        want,
        mistakes={"bootstrapped past a terminal last step": rewards + 0.9 * last - values},
    )
