"""Hidden tests of week 14, tabular.py: value iteration and Q-learning on the shipped 4×4 grid world.

The optimal values are computed here by policy iteration with torch.linalg.solve (exact policy
evaluation), on the grid world and on random MDPs, so value_iteration is judged against a
different algorithm; its policy must be optimal (Q*(s, π(s)) = V*(s)), with ties to the lowest
action. Q-learning is judged (1) with ε = 0 against a loop written here over the model (P, R),
(2) with α = 1 and pure exploration against Q*, (3) by its greedy policy, which must be optimal in
every state after a seeded run, and (4) on terminal moves, which must not bootstrap.
Every run is seeded; each takes well under a second.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import assert_close, fail, generator

pytestmark = pytest.mark.exercise("tabular")

GAMMA = 0.9
TERMINALS, WALLS = (7, 13, 15), (5,)
LIVE = [s for s in range(16) if s not in TERMINALS + WALLS]


def policy_iteration(P, R, gamma):
    """(V*, Q*) by exact policy evaluation (a linear solve) and greedy improvement."""
    states = P.shape[0]
    chosen = torch.zeros(states, dtype=torch.long)
    rows = torch.arange(states)
    for _ in range(100):
        P_pi, R_pi = P[rows, chosen], R[rows, chosen]
        V = torch.linalg.solve(torch.eye(states, dtype=P.dtype) - gamma * P_pi, R_pi)
        Q = R + gamma * P @ V
        better = Q.max(1).values > Q[rows, chosen] + 1e-12
        if not better.any():
            return V, Q
        chosen = torch.where(better, Q.argmax(1), chosen)
    raise AssertionError("policy iteration did not converge")


def uniform_policy_values(P, R, gamma):
    states = P.shape[0]
    V = torch.linalg.solve(torch.eye(states, dtype=P.dtype) - gamma * P.mean(1), R.mean(1))
    return V


def random_mdp(states, actions, seed):
    g = generator(seed)
    P = torch.rand(states, actions, states, generator=g, dtype=torch.float64) ** 3
    P = P / P.sum(-1, keepdim=True)
    R = torch.randn(states, actions, generator=g, dtype=torch.float64)
    return P, R


def _q_learning(m, episodes, alpha, gamma, eps, seed, q_init, max_steps):
    env = m.GridWorld()
    return m.q_learning(
        env, episodes, alpha, gamma, eps, torch.Generator().manual_seed(seed), q_init=q_init, max_steps=max_steps
    )


def greedy_q_learning_by_hand(
    P, R, episodes, alpha, gamma, q_init, max_steps, bootstrap_terminal=False, backup=torch.max, cutoff_ends=False
):
    """Q-learning with ε = 0 (no random numbers), run on the model: s' = the one state P sends to."""
    table = torch.full(R.shape, float(q_init), dtype=torch.float64)
    for _ in range(episodes):
        here = 0
        for move in range(max_steps):
            act = int(table[here].argmax())
            there = int(P[here, act].argmax())
            reward = float(R[here, act])
            ended = there in TERMINALS
            stop = ended or (cutoff_ends and move == max_steps - 1)
            future = 0.0 if stop and not bootstrap_terminal else gamma * float(backup(table[there]))
            table[here, act] += alpha * (reward + future - table[here, act])
            here = there
            if ended:
                break
    return table


# --- value_iteration ------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Back up every state with the max over actions of R + γ·Σ P·V, until V stops changing.")
def test_value_iteration_on_the_grid_world(student, reference):
    P, R = reference.gridworld_model()
    V_star, _ = policy_iteration(P, R, GAMMA)
    got = student.value_iteration(P, R, GAMMA)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail("value_iteration must return a pair (V, policy)")
    assert_close(
        got[0],
        V_star,
        atol=1e-7,
        what="V",
        mistakes={
            "V is the value of the uniform random policy: take the max over actions, not the mean": uniform_policy_values(
                P, R, GAMMA
            ),
            "V after a single backup: iterate until V stops changing": R.max(1).values,
        },
    )


@pytest.mark.points(3)
@pytest.mark.hint("The Bellman optimality backup: Q(s, a) = R[s, a] + γ·Σ_s' P[s, a, s']·V(s'), V(s) = max_a Q(s, a).")
@pytest.mark.parametrize("size", [(1, 2), (7, 3), (12, 5)], ids=str)
def test_value_iteration_on_random_mdps(student, size):
    P, R = random_mdp(*size, seed=sum(size))
    V_star, Q_star = policy_iteration(P, R, 0.8)
    V, policy = student.value_iteration(P, R, 0.8)
    assert_close(
        V,
        V_star,
        atol=1e-7,
        what="V",
        mistakes={
            "V is the value of the uniform random policy: take the max over actions, not the mean": uniform_policy_values(
                P, R, 0.8
            )
        },
    )
    if not isinstance(policy, torch.Tensor) or policy.shape != (size[0],) or policy.dtype != torch.int64:
        fail(f"the policy must be a LongTensor of shape ({size[0]},), one action per state")
    regret = V_star - Q_star.gather(1, policy.view(-1, 1)).squeeze(1)
    if regret.max() > 1e-6:
        fail(f"the policy's action in state {int(regret.argmax())} is not optimal: take the argmax of the backed-up Q")


@pytest.mark.points(2)
@pytest.mark.hint(
    "The policy is the argmax over actions of Q = R + γ·P·V; torch.argmax breaks ties towards the lowest action."
)
def test_value_iteration_policy_reaches_the_goal_with_lowest_ties(student, reference):
    P, R = reference.gridworld_model()
    _, policy = student.value_iteration(P, R, GAMMA)
    if not isinstance(policy, torch.Tensor) or policy.shape != (16,):
        fail("the policy must be a tensor of shape (16,)")
    here, path = 0, [0]
    for _ in range(10):
        here = int(P[here, int(policy[here])].argmax())
        path.append(here)
        if here in TERMINALS:
            break
    if path[-1] != 15 or len(path) != 7:
        fail(f"following the policy from the start visits {path}: the shortest safe path to the goal takes 6 moves")
    twin_P, twin_R = torch.cat([P, P], dim=1), torch.cat([R, R], dim=1)  # actions 4..7 copy actions 0..3
    _, twin_policy = student.value_iteration(twin_P, twin_R, GAMMA)
    if (twin_policy >= 4).any():
        fail("with every action duplicated, the policy chose a copy: ties must go to the lowest action")


@pytest.mark.points(1)
@pytest.mark.hint("Start V with R's dtype: float32 in, float32 out.")
def test_value_iteration_keeps_float32(student):
    P, R = random_mdp(5, 3, seed=3)
    V, _ = student.value_iteration(P.float(), R.float(), 0.5, tol=1e-6)
    if not isinstance(V, torch.Tensor) or V.dtype != torch.float32:
        fail(f"V of dtype {getattr(V, 'dtype', type(V))} for float32 P and R: keep R's dtype")
    assert_close(V, policy_iteration(P, R, 0.5)[0].float(), atol=1e-5, what="V")


# --- q_learning -----------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Q is a float64 table of shape (env.n_states, env.n_actions) filled with q_init; zero episodes change nothing."
)
def test_q_learning_shape_and_no_episodes(student):
    got = student.run(_q_learning, 0, 0.5, GAMMA, 0.1, 0, 0.25, 100)
    assert_close(got, torch.full((16, 4), 0.25, dtype=torch.float64), what="Q after zero episodes")
    if got.dtype != torch.float64:
        fail(f"Q of dtype {got.dtype}: a float64 table is expected")


@pytest.mark.points(3)
@pytest.mark.hint(
    "With ε = 0 nothing is random: always the greedy action (lowest on ties), then "
    "Q[s, a] += α·(target − Q[s, a]) with target r + γ·max Q[s'] — just r when s' is terminal."
)
@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_q_learning_greedy_run_matches_a_loop_by_hand(student, reference, alpha):
    P, R = reference.gridworld_model()
    got = student.run(_q_learning, 25, alpha, GAMMA, 0.0, 0, 0.5, 30)
    want = greedy_q_learning_by_hand(P, R, 25, alpha, GAMMA, 0.5, 30)
    assert_close(
        got,
        want,
        what="Q",
        mistakes={
            "bootstrapped from a terminal state: the target of a move that ends the episode is just r": greedy_q_learning_by_hand(
                P, R, 25, alpha, GAMMA, 0.5, 30, bootstrap_terminal=True
            ),
            "the target used the mean of Q(s', ·), not its max (that is expected SARSA of a uniform policy)": greedy_q_learning_by_hand(
                P, R, 25, alpha, GAMMA, 0.5, 30, backup=torch.mean
            ),
            **(
                {
                    "α was ignored: Q[s, a] was set to the target instead of moved a step α towards it": greedy_q_learning_by_hand(
                        P, R, 25, 1.0, GAMMA, 0.5, 30
                    )
                }
                if alpha != 1.0
                else {}
            ),
        },
    )


@pytest.mark.points(3)
@pytest.mark.hint(
    "A move into the goal or a pit ends the episode: its target is the reward alone, with no γ·max Q of the terminal state."
)
def test_q_learning_does_not_bootstrap_from_terminal_states(student, reference):
    P, R = reference.gridworld_model()
    got = student.run(_q_learning, 60, 1.0, GAMMA, 0.5, 4, 2.0, 100)
    for s in LIVE:
        for a in range(4):
            there = int(P[s, a].argmax())
            if there in TERMINALS and float(got[s, a]) != 2.0:
                if abs(float(got[s, a]) - (float(R[s, a]) + GAMMA * 2.0)) < 1e-9:
                    fail(f"Q[{s}, {a}] = r + γ·max Q[{there}]: bootstrapped from a terminal state")
                assert_close(got[s, a], R[s, a], what=f"Q[{s}, {a}] (a move into terminal state {there}, with α = 1)")


@pytest.mark.points(3)
@pytest.mark.hint(
    "In a deterministic world, α = 1 and enough exploration make the Q-learning target a Bellman optimality backup."
)
def test_q_learning_converges_to_q_star(student, reference):
    P, R = reference.gridworld_model()
    _, Q_star = policy_iteration(P, R, GAMMA)
    got = student.run(_q_learning, 200, 1.0, GAMMA, 1.0, 5, 0.0, 100)
    if not isinstance(got, torch.Tensor) or got.shape != (16, 4):
        fail("Q must be a tensor of shape (16, 4)")
    assert_close(got[LIVE], Q_star[LIVE], atol=1e-6, what="Q of the non-terminal states")


@pytest.mark.points(4)
@pytest.mark.hint(
    "The greedy policy of a well-learned Q is optimal: explore with probability ε, and otherwise act greedily."
)
@pytest.mark.parametrize("seed", [0, 1])
def test_q_learning_greedy_policy_is_optimal(student, reference, seed):
    P, R = reference.gridworld_model()
    V_star, Q_star = policy_iteration(P, R, GAMMA)
    got = student.run(_q_learning, 400, 0.5, GAMMA, 0.5, seed, 0.0, 100)
    if not isinstance(got, torch.Tensor) or got.shape != (16, 4):
        fail("Q must be a tensor of shape (16, 4)")
    greedy = got.argmax(1)
    wrong = [s for s in LIVE if float(Q_star[s, greedy[s]]) < float(V_star[s]) - 1e-6]
    if wrong:
        fail(f"after 400 episodes the greedy action is not optimal in states {wrong}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "An episode cut off after max_steps did not end: its last update still bootstraps from the next state."
)
def test_q_learning_cut_off_episodes_bootstrap(student, reference):
    P, R = reference.gridworld_model()
    got = student.run(_q_learning, 3, 0.5, GAMMA, 0.0, 0, 1.0, 1)
    want = greedy_q_learning_by_hand(P, R, 3, 0.5, GAMMA, 1.0, 1)
    assert_close(
        got,
        want,
        what="Q after three one-step episodes",
        mistakes={
            "an episode cut off by max_steps was treated as terminal: it must still bootstrap": greedy_q_learning_by_hand(
                P, R, 3, 0.5, GAMMA, 1.0, 1, cutoff_ends=True
            )
        },
    )
