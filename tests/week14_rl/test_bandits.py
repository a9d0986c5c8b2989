"""Hidden tests of week 14, bandits.py: ε-greedy, UCB1 and a Gaussian multi-armed bandit.

ε-greedy is judged by seeded statistics over many draws (ε = 0 is the argmax with ties to the
lowest index, ε = 1 passes a chi-square test for uniformity, the greedy arm's frequency is
1 - ε + ε/A) and by its use of the generator. UCB1 is compared with the bound computed here on
designed counts; run_bandit by its first pulls, a noise-free run worked out by hand, its regret
against ε-greedy's on a fixed bandit, and the exact arms under the draw order its docstring states.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("bandits")

ALPHA = 1e-4


def chi_square_threshold(df: int, alpha: float = ALPHA) -> float:
    """Wilson-Hilferty approximation of the chi-square upper alpha-quantile (scipy is not a dependency)."""
    z = Normal(0.0, 1.0).icdf(torch.tensor(1 - alpha, dtype=torch.float64)).item()
    spread = 2 / (9 * df)
    return df * (1 - spread + z * math.sqrt(spread)) ** 3


def _eps_greedy(m, q, eps, seed):
    return m.epsilon_greedy(q, eps, torch.Generator().manual_seed(seed))


def _eps_generator_use(m, q, eps):
    saved = torch.get_rng_state()
    try:
        runs, advanced, untouched = [], True, True
        for seed in (3, 3, 4):
            g = torch.Generator().manual_seed(seed)
            before = g.get_state()
            torch.manual_seed(999)
            runs.append(m.epsilon_greedy(q, eps, g))
            advanced = advanced and not torch.equal(before, g.get_state())
            untouched = untouched and torch.equal(torch.get_rng_state(), torch.manual_seed(999).get_state())
    finally:
        torch.set_rng_state(saved)
    return {"runs": runs, "advanced": advanced, "untouched": untouched}


def _bandit(m, means, steps, method, seed, eps, c, reward_std):
    return m.run_bandit(means, steps, method, torch.Generator().manual_seed(seed), eps=eps, c=c, reward_std=reward_std)


# --- epsilon_greedy ---------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("With ε = 0 the action is the greedy one: the argmax of each row (the first one on ties).")
@pytest.mark.parametrize("shape", [(5,), (1, 4), (7, 3), (2, 3, 6)], ids=str)
def test_epsilon_zero_is_the_argmax(student, shape):
    q = randn(*shape, seed=1)
    top = q.amax(-1) + 1.0
    q[..., 0], q[..., -1] = top, top  # every row's maximum is tied between its first and last action
    got = student.run(_eps_greedy, q, 0.0, 0)
    assert_close(
        got,
        torch.argmax(q, dim=-1),
        mistakes={"ties went to the last maximal action, not the first": (q.shape[-1] - 1) - q.flip(-1).argmax(-1)},
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "ε = 1 always explores, choosing among all A actions (the greedy one included) with equal probability."
)
def test_epsilon_one_is_uniform(student):
    q = torch.tensor([[0.0, 3.0, 1.0, -1.0, 2.0]], dtype=torch.float64).expand(20_000, 5)
    got = student.run(_eps_greedy, q, 1.0, 1)
    if not isinstance(got, torch.Tensor) or got.shape != (20_000,):
        fail(f"a tensor of shape (20000,) expected for q of shape (20000, 5), got {getattr(got, 'shape', type(got))}")
    counts = torch.bincount(got.long(), minlength=5).double()
    if counts.numel() > 5:
        fail("actions outside [0, A) were drawn")
    if counts[1] == 0:
        fail("exploration never picks the greedy action: draw the random action among all A actions")
    expected = torch.full((5,), 20_000 / 5, dtype=torch.float64)
    statistic = float(((counts - expected) ** 2 / expected).sum())
    if statistic > chi_square_threshold(4):
        fail(f"ε = 1 is not uniform over the actions: counts {counts.long().tolist()} (chi-square {statistic:.1f})")


@pytest.mark.points(2)
@pytest.mark.hint(
    "The greedy action is chosen when the row exploits (1 − ε) and also when exploring happens to pick it (ε/A)."
)
@pytest.mark.parametrize("eps", [0.3, 0.8])
def test_greedy_frequency(student, eps):
    rows, arms = 40_000, 4
    q = torch.tensor([0.5, -0.2, 1.5, 0.1], dtype=torch.float64).expand(rows, arms)
    got = student.run(_eps_greedy, q, eps, 2)
    if not isinstance(got, torch.Tensor) or got.shape != (rows,):
        fail(f"a tensor of shape ({rows},) expected, got {getattr(got, 'shape', type(got))}")
    freq = float((got == 2).double().mean())
    want = 1 - eps + eps / arms
    slack = 4 * math.sqrt(want * (1 - want) / rows)
    if abs(freq - (1 - eps)) < slack:
        fail(
            f"greedy action chosen with frequency {freq:.3f} ≈ 1 − ε: exploring must be able to pick the greedy action too"
        )
    if abs(freq - (eps + (1 - eps) / arms)) < slack:
        fail(
            f"greedy action chosen with frequency {freq:.3f} ≈ ε + (1 − ε)/A: the comparison with ε is the wrong way round"
        )
    if abs(freq - want) >= slack:
        fail(f"greedy action chosen with frequency {freq:.3f}, far from 1 − ε + ε/A for ε = {eps}")


@pytest.mark.points(2)
@pytest.mark.hint("Pass generator=... to torch.rand and torch.randint; the same seed must give the same actions.")
def test_epsilon_greedy_uses_only_the_generator(student):
    q = randn(200, 3, seed=3)
    use = student.run(_eps_generator_use, q, 0.5)
    first, again, other = use["runs"]
    if not use["advanced"]:
        fail("the generator argument was never used")
    if not use["untouched"]:
        fail("drew from torch's global random generator, not only from the given one")
    if not torch.equal(first, again):
        fail("two generators with the same seed gave different actions")
    if torch.equal(first, other):
        fail("generators with different seeds gave the same actions")
    if first.dtype != torch.int64:
        fail(f"actions of dtype {first.dtype}: a LongTensor (int64) of indices is expected")


# --- ucb_action -----------------------------------------------------------------------------------


def ucb_by_hand(counts, values, t, c):
    for arm, n in enumerate(counts.tolist()):
        if n == 0:
            return arm
    scores = [v + c * math.sqrt(math.log(t) / n) for v, n in zip(values.tolist(), counts.tolist(), strict=True)]
    return max(range(len(scores)), key=lambda arm: (scores[arm], -arm))


UCB_CASES = [
    # counts, values, c: the bonus decides against the greedy arm in each
    ([3.0, 5.0, 80.0, 2.0], [0.2, 0.7, 0.9, -0.9], 1.0),  # greedy, no-log and no-sqrt bonuses all disagree
    ([10.0, 2.0, 30.0], [0.9, 0.5, 1.0], 1.0),
    ([50.0, 3.0, 8.0, 40.0], [0.2, -0.1, 0.1, 0.3], 0.5),
    ([1.0, 20.0], [0.0, 0.3], 0.3),
]


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "An arm never pulled has an infinite upper bound: UCB pulls the untried arms first, lowest index first."
)
def test_ucb_tries_untried_arms_first(student):
    got = student.ucb_action(torch.tensor([3.0, 0.0, 2.0, 0.0]), torch.tensor([5.0, 0.0, 1.0, 0.0]), 5, 2.0)
    if not isinstance(got, int) or isinstance(got, bool):
        fail(f"a Python int expected, got {type(got).__name__}")
    if got != 1:
        fail(f"arm {got} chosen while arms 1 and 3 were never pulled: the first untried arm (1) comes first")
    if student.ucb_action(torch.zeros(3), torch.zeros(3), 0, 2.0) != 0:
        fail("with no pull yet, the first arm (0) should be pulled")


@pytest.mark.points(3)
@pytest.mark.hint(
    "The bonus c·sqrt(ln t / n) grows slowly with the total pulls t and shrinks with the arm's own pulls n."
)
@pytest.mark.parametrize("case", range(len(UCB_CASES)))
def test_ucb_upper_confidence_bound(student, case):
    raw_counts, raw_values, c = UCB_CASES[case]
    counts, values = torch.tensor(raw_counts, dtype=torch.float64), torch.tensor(raw_values, dtype=torch.float64)
    t = int(counts.sum())
    got = student.ucb_action(counts, values, t, c)
    if not isinstance(got, int) or isinstance(got, bool):
        fail(f"a Python int expected, got {type(got).__name__} (convert with int(...))")
    want = ucb_by_hand(counts, values, t, c)
    if got == want:
        return
    if got == int(values.argmax()):
        fail(f"arm {got} chosen: the greedy arm, as if the exploration bonus were missing")
    no_log = max(range(len(counts)), key=lambda a: float(values[a]) + c * math.sqrt(t / float(counts[a])))
    if got == no_log:
        fail(f"arm {got} chosen: the bonus used t instead of ln t")
    no_sqrt = max(range(len(counts)), key=lambda a: float(values[a]) + c * math.log(t) / float(counts[a]))
    if got == no_sqrt:
        fail(f"arm {got} chosen: the bonus is missing its square root")
    fail(f"arm {got} chosen, expected arm {want} (counts {counts.tolist()}, values {values.tolist()}, c = {c})")


@pytest.mark.points(1)
@pytest.mark.hint("With c = 0 UCB is greedy; ties go to the lowest index.")
def test_ucb_without_bonus_is_greedy_with_ties_low(student):
    got = student.ucb_action(torch.tensor([4.0, 2.0, 6.0]), torch.tensor([0.2, 0.7, 0.7]), 12, 0.0)
    if got != 1:
        fail(f"arm {got} chosen with c = 0: the greedy arm with the lowest index (1) was expected")


# --- run_bandit -----------------------------------------------------------------------------------


MEANS = torch.tensor([0.2, -0.3, 0.9, 0.5, 0.0], dtype=torch.float64)


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("UCB pulls every arm once before using the bound; the result is one arm index per step.")
def test_run_bandit_ucb_pulls_every_arm_first(student):
    got = student.run(_bandit, MEANS, 40, "ucb", 0, 0.1, 2.0, 1.0)
    if not isinstance(got, torch.Tensor) or got.shape != (40,):
        fail(f"a tensor of shape (40,) expected, got {getattr(got, 'shape', type(got))}")
    if got.dtype != torch.int64:
        fail(f"arms of dtype {got.dtype}: a LongTensor (int64) is expected")
    assert_close(got[:5], torch.arange(5), what="the first five pulls")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Work the noise-free run out by hand: estimates start at 0, and each pull moves the arm's estimate to the mean of its rewards."
)
def test_run_bandit_noise_free_greedy_by_hand(student):
    means = torch.tensor([-0.5, 0.3, 0.8], dtype=torch.float64)
    got = student.run(_bandit, means, 12, "epsilon", 0, 0.0, 2.0, 0.0)
    # Q = 0 everywhere: arm 0 first (lowest index); it pays -0.5, so arm 1 (Q 0) is next; it pays 0.3 and stays best.
    want = torch.tensor([0] + [1] * 11)
    assert_close(got, want, what="arms pulled")


def ucb_run_by_hand(means, steps, c):
    pulls, estimates, arms = [0] * len(means), [0.0] * len(means), []
    for t in range(steps):
        arm = ucb_by_hand(torch.tensor(pulls, dtype=torch.float64), torch.tensor(estimates), t, c)
        pulls[arm] += 1
        estimates[arm] = float(means[arm])  # noise-free: the sample mean is the mean
        arms.append(arm)
    return torch.tensor(arms)


@pytest.mark.points(2)
@pytest.mark.hint("t is the number of pulls made so far (the sum of the counts); untried arms first, then the bound.")
def test_run_bandit_noise_free_ucb(student):
    means = torch.tensor([0.1, 0.5, 0.45, -0.2], dtype=torch.float64)
    got = student.run(_bandit, means, 60, "ucb", 0, 0.1, 0.5, 0.0)
    assert_close(got, ucb_run_by_hand(means, 60, 0.5), what="arms pulled")


@pytest.mark.points(3)
@pytest.mark.hint(
    "UCB explores where it is uncertain and stops exploring bad arms; ε-greedy keeps exploring at rate ε. "
    "Check the sample-mean update Q += (r − Q)/n."
)
def test_run_bandit_ucb_regret_below_epsilon_greedy(student):
    steps = 1000
    regret = {}
    for method in ("ucb", "epsilon"):
        total = 0.0
        for seed in range(3):
            arms = student.run(_bandit, MEANS, steps, method, seed, 0.1, 1.0, 1.0)
            if not isinstance(arms, torch.Tensor) or arms.shape != (steps,):
                fail(f"{method}: a tensor of shape ({steps},) expected")
            total += float((MEANS.max() - MEANS[arms.long()]).sum())
        regret[method] = total / 3
    best_share_cap = steps * float(MEANS.max() - MEANS.sort().values[-2])
    if regret["epsilon"] > best_share_cap:
        fail(
            f"ε-greedy's regret {regret['epsilon']:.0f} is as bad as never finding the best arm: check the value estimates"
        )
    if regret["ucb"] >= regret["epsilon"]:
        fail(
            f"UCB's mean regret {regret['ucb']:.0f} is not below ε-greedy's {regret['epsilon']:.0f} over {steps} pulls"
        )


@pytest.mark.points(2)
@pytest.mark.hint(
    "Follow the stated order of random draws: ε-greedy's two draws (rand, then randint) before each pull, "
    "then one torch.randn((), generator=..., dtype=torch.float64) for the reward."
)
@pytest.mark.parametrize("method", ["epsilon", "ucb"])
def test_run_bandit_matches_reference_draw_for_draw(student, reference, method):
    want = reference.run(_bandit, MEANS, 300, method, 7, 0.2, 1.0, 1.0)
    assert_close(student.run(_bandit, MEANS, 300, method, 7, 0.2, 1.0, 1.0), want, what="arms pulled")
