"""Tabular reinforcement learning on a small grid world: value iteration and Q-learning.

The grid world (given, complete: not an exercise) is 4×4; states are numbered row by row,
s = 4·row + col, and the actions are 0 up, 1 right, 2 down, 3 left:

     0 S   1 .   2 .   3 .
     4 .   5 #   6 .   7 X
     8 .   9 .  10 .  11 .
    12 .  13 X  14 .  15 G

S is the start, # a wall (moving into it, or off the grid, leaves the agent where it is), X a pit
(reward -1, the episode ends) and G the goal (reward +1, the episode ends). Every other move
costs `step_reward` (-0.04). Moves are deterministic.

Value iteration knows the model: P[s, a, s'] (the probability of landing in s') and R[s, a] (the
expected reward). Terminal states are absorbing, with P[s, a, s] = 1 and R[s, a] = 0, so no
special case is needed. It repeats the Bellman optimality backup
    Q(s, a) = R[s, a] + γ Σ_s' P[s, a, s'] V(s'),   V(s) = max_a Q(s, a)
until V changes by less than tol, and returns V and the greedy policy.

Q-learning does not know the model: it only calls env.reset() and env.step(a). After each step
(s, a, r, s', done) it moves Q(s, a) towards the target r + γ max_a' Q(s', a'), where a terminal
s' contributes nothing: the target is just r. Its greedy policy argmax_a Q(s, a) converges to the
one value iteration computes.
"""

from __future__ import annotations

import torch

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
_MOVES = {UP: (-1, 0), RIGHT: (0, 1), DOWN: (1, 0), LEFT: (0, -1)}


class GridWorld:
    """The 4×4 grid world above (given: not an exercise).

    reset() -> start state; step(action) -> (next_state, reward, done), all Python numbers.
    """

    size = 4
    n_states = 16
    n_actions = 4
    start = 0
    walls = frozenset({5})
    terminal_rewards = {7: -1.0, 13: -1.0, 15: 1.0}

    def __init__(self, step_reward: float = -0.04) -> None:
        self.step_reward = step_reward
        self.state = self.start

    def is_terminal(self, state: int) -> bool:
        return state in self.terminal_rewards

    def move(self, state: int, action: int) -> tuple[int, float, bool]:
        """Where `action` leads from `state`, its reward and whether the episode ends (no side effect)."""
        if self.is_terminal(state):
            return state, 0.0, True
        row, col = divmod(state, self.size)
        d_row, d_col = _MOVES[action]
        row2, col2 = row + d_row, col + d_col
        target = row2 * self.size + col2
        if not (0 <= row2 < self.size and 0 <= col2 < self.size) or target in self.walls:
            target = state
        if self.is_terminal(target):
            return target, self.terminal_rewards[target], True
        return target, self.step_reward, False

    def reset(self) -> int:
        self.state = self.start
        return self.state

    def step(self, action: int) -> tuple[int, float, bool]:
        self.state, reward, done = self.move(self.state, int(action))
        return self.state, reward, done

    def model(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(P, R): P of shape (S, A, S) and R of shape (S, A), float64; terminal states absorb."""
        P = torch.zeros(self.n_states, self.n_actions, self.n_states, dtype=torch.float64)
        R = torch.zeros(self.n_states, self.n_actions, dtype=torch.float64)
        for s in range(self.n_states):
            for a in range(self.n_actions):
                s2, r, _ = self.move(s, a)
                P[s, a, s2] = 1.0
                R[s, a] = r
        return P, R


def gridworld_model(step_reward: float = -0.04) -> tuple[torch.Tensor, torch.Tensor]:
    """GridWorld(step_reward).model() as plain tensors (given)."""
    return GridWorld(step_reward).model()


def value_iteration(
    P: torch.Tensor, R: torch.Tensor, gamma: float, tol: float = 1e-10, max_iters: int = 10_000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Optimal state values and a greedy optimal policy of a known finite MDP.

    P: (S, A, S) transition probabilities (each P[s, a] sums to 1); R: (S, A) expected rewards;
    0 <= gamma < 1. Start from V = 0 and apply the Bellman optimality backup to every state at once
    until max |V_new - V| < tol (or max_iters backups).
    Returns: (V of shape (S,) in R's dtype, policy: a LongTensor (S,) of argmax_a Q(s, a) for the
    final V, lowest action on ties).
    """
    # TODO: Q = R + γ·(P @ V), V = max over actions; stop when V stops changing.
    raise NotImplementedError("value_iteration() is not implemented yet")


def q_learning(
    env: GridWorld,
    episodes: int,
    alpha: float,
    gamma: float,
    eps: float,
    generator: torch.Generator,
    q_init: float = 0.0,
    max_steps: int = 100,
) -> torch.Tensor:
    """Tabular Q-learning with an ε-greedy behaviour policy.

    env: has n_states, n_actions, reset() -> s and step(a) -> (s2, reward, done).
    Q starts as a float64 (S, A) table filled with q_init. Each episode starts at env.reset() and
    runs until done or for max_steps steps (a cut-off episode is not terminal: it bootstraps).
    At each step: explore with probability eps (u = torch.rand((), generator=generator) < eps, then
    a = torch.randint(0, A, (), generator=generator)), else take argmax_a Q[s] (lowest on ties);
    then Q[s, a] += alpha·(target - Q[s, a]), target = r if done else r + gamma·max_a' Q[s2, a'].
    Returns: Q, a float64 tensor of shape (S, A).
    """
    # TODO: the loop over episodes and steps; never bootstrap from a terminal next state.
    raise NotImplementedError("q_learning() is not implemented yet")
