"""Hidden tests of week 14, dqn.py: the replay buffer, DQN and Double DQN targets, the Huber loss.

The buffer is probed for what it keeps (the newest `capacity` transitions, in ring order), what it
samples (filled slots only, uniformly, from the given generator) and the dtypes of its batches.
Targets are compared with the formulas computed here from torch's nn.Linear networks, on inputs
where max, mean and the two argmaxes differ, with done = 1 rows; they must carry no gradient.
The loss is compared with F.huber_loss(delta=1), which equals F.smooth_l1_loss.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("dqn")

OBS, ACTIONS = 3, 4


def _fill_and_sample(m, capacity, pushes, batch, seed):
    buffer = m.ReplayBuffer(capacity)
    lengths = []
    for i in range(pushes):
        state = torch.full((3,), float(i))  # OBS = 3 features, ACTIONS = 4
        buffer.push(state, i % 4, float(i), state + 0.5, i % 3 == 0)
        lengths.append(len(buffer))
    out = {"lengths": lengths}
    if pushes:
        sample = buffer.sample(batch, torch.Generator().manual_seed(seed))
        out["sample"] = list(sample)
        again = buffer.sample(batch, torch.Generator().manual_seed(seed))
        out["same_seed_same_batch"] = all(torch.equal(x, y) for x, y in zip(sample, again, strict=True))
    return out


def _nets(m, online_state, target_state, r, s2, done, gamma, double):
    n_actions, n_obs = online_state["weight"].shape
    online, target = nn.Linear(n_obs, n_actions).double(), nn.Linear(n_obs, n_actions).double()
    online.load_state_dict(online_state)
    target.load_state_dict(target_state)
    if double:
        y = m.double_dqn_targets(r, s2, done, online, target, gamma)
    else:
        y = m.dqn_targets(r, s2, done, target, gamma)
    leaks = bool(y.requires_grad)
    if leaks:
        y.sum().backward()
    reached = [
        name for name, net in (("online", online), ("target", target)) for p in net.parameters() if p.grad is not None
    ]
    return {"y": y.detach(), "requires_grad": leaks, "reached": sorted(set(reached))}


def _loss_grads(m, q, actions, targets):
    q_leaf, target_leaf = q.clone().requires_grad_(), targets.clone().requires_grad_()
    loss = m.dqn_loss(q_leaf, actions, target_leaf)
    loss.backward()
    return {
        "loss": loss.detach(),
        "q_grad": q_leaf.grad,
        "target_grad": None if target_leaf.grad is None else target_leaf.grad,
    }


def net_state(seed, scale=1.0):
    return {"weight": randn(ACTIONS, OBS, seed=seed, scale=scale), "bias": randn(ACTIONS, seed=seed + 1, scale=scale)}


def q_of(state, s):
    return s @ state["weight"].T + state["bias"]


# --- ReplayBuffer ---------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("len(buffer) counts the stored transitions and never exceeds capacity.")
def test_buffer_length_grows_to_capacity(student):
    got = student.run(_fill_and_sample, 5, 8, 4, 0)
    assert_close(got["lengths"], [1, 2, 3, 4, 5, 5, 5, 5], what="len(buffer) after each push")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Once full, each push overwrites the oldest transition: the buffer always holds the newest `capacity` ones."
)
def test_buffer_overwrites_the_oldest(student):
    got = student.run(_fill_and_sample, 6, 15, 2000, 1)
    rewards = set(got["sample"][2].tolist())
    newest = {float(i) for i in range(9, 15)}
    if rewards == {float(i) for i in range(6)}:
        fail("the buffer kept the first transitions and dropped the new ones: overwrite the oldest slot")
    if not rewards <= newest:
        fail(f"sampled transitions {sorted(rewards - newest)} that should have been overwritten (the newest are 9..14)")
    if rewards != newest:
        fail(f"transitions {sorted(newest - rewards)} are stored but never sampled in 2000 draws")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Sample slot indices only among the filled part of the buffer (0 .. len − 1), not the whole capacity."
)
def test_buffer_samples_only_filled_slots(student):
    got = student.run(_fill_and_sample, 50, 3, 600, 2)
    rewards = got["sample"][2]
    if not isinstance(rewards, torch.Tensor):
        fail("sample() must return tensors")
    counts = torch.bincount(rewards.long(), minlength=3)
    if counts.numel() > 3:
        fail("sampled slots that were never filled")
    if (counts < 120).any():
        fail(f"the three stored transitions were drawn {counts.tolist()} times in 600 draws: sample uniformly")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Stack the fields: states (B, obs), actions a LongTensor (B,), rewards and dones float64 (B,), dones 0/1."
)
def test_buffer_batch_fields(student):
    got = student.run(_fill_and_sample, 10, 7, 5, 3)
    if not got["same_seed_same_batch"]:
        fail("the same seed gave two different batches: draw the slots from the given generator")
    s, a, r, s2, done = got["sample"]
    for name, value, shape, dtype in (
        ("s", s, (5, OBS), None),
        ("a", a, (5,), torch.int64),
        ("r", r, (5,), torch.float64),
        ("s2", s2, (5, OBS), None),
        ("done", done, (5,), torch.float64),
    ):
        if not isinstance(value, torch.Tensor) or value.shape != shape:
            fail(f"{name}: a tensor of shape {shape} expected, got {getattr(value, 'shape', type(value))}")
        if dtype is not None and value.dtype != dtype:
            fail(f"{name}: dtype {dtype} expected, got {value.dtype}")
    index = r.long()
    assert_close(s, index.view(-1, 1).expand(5, OBS).float(), what="s (each transition's state)")
    assert_close(s2, s + 0.5, what="s2")
    assert_close(a, index % ACTIONS, what="a")
    assert_close(done, (index % 3 == 0).double(), what="done")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Transition i goes into slot i % capacity, and sample draws torch.randint(0, len(self), (batch_size,), generator=...)."
)
@pytest.mark.parametrize("pushes", [4, 13])
def test_buffer_matches_reference_draw_for_draw(student, reference, pushes):
    want = reference.run(_fill_and_sample, 5, pushes, 9, 4)
    got = student.run(_fill_and_sample, 5, pushes, 9, 4)
    assert_close(got["sample"][2], want["sample"][2], what="rewards of the sampled slots")


# --- dqn_targets ----------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("y = r + γ·(1 − done)·max over actions of the target network's Q(s').")
@pytest.mark.parametrize("batch", [1, 5, 8])
def test_dqn_targets_values(student, batch):
    target = net_state(1)
    r, s2 = randn(batch, seed=3), randn(batch, OBS, seed=4)
    done = torch.arange(batch) % 2 == 1
    got = student.run(_nets, net_state(9), target, r, s2, done, 0.9, False)
    q2 = q_of(target, s2)
    live = (~done).double()
    assert_close(
        got["y"],
        r + 0.9 * live * q2.max(1).values,
        what="targets",
        mistakes={
            "bootstrapped past terminal: done rows must not add γ·max Q(s')": r + 0.9 * q2.max(1).values,
            "the mean over actions was used, not the max": r + 0.9 * live * q2.mean(1),
        }
        if batch > 1
        else None,
    )


@pytest.mark.points(3)
@pytest.mark.hint(
    "The target is a constant for this update: compute it without building a graph (torch.no_grad or detach)."
)
def test_dqn_targets_carry_no_gradient(student):
    got = student.run(
        _nets,
        net_state(2),
        net_state(5),
        randn(6, seed=6),
        randn(6, OBS, seed=7),
        torch.zeros(6, dtype=torch.bool),
        0.99,
        False,
    )
    if got["requires_grad"]:
        fail(f"the target depends on the network's parameters through autograd (gradient reached {got['reached']})")


@pytest.mark.points(2)
@pytest.mark.hint(
    "done may be a bool tensor or 0/1 floats: convert it before computing 1 − done; a terminal row's target is just r."
)
def test_dqn_targets_all_terminal_and_float_done(student):
    r, s2 = randn(4, seed=8), randn(4, OBS, seed=9)
    got = student.run(_nets, net_state(2), net_state(3), r, s2, torch.ones(4, dtype=torch.float64), 0.9, False)
    assert_close(
        got["y"],
        r,
        what="targets of terminal transitions",
        mistakes={"bootstrapped past terminal": r + 0.9 * q_of(net_state(3), s2).max(1).values},
    )


# --- double_dqn_targets ---------------------------------------------------------------------------


def double_inputs(batch):
    online, target = net_state(11, 2.0), net_state(21, 2.0)
    s2 = randn(batch, OBS, seed=31)
    q_on, q_tg = q_of(online, s2), q_of(target, s2)
    if batch > 1 and (q_on.argmax(1) == q_tg.argmax(1)).all():
        raise AssertionError("the test inputs must have rows where the two argmaxes differ")
    return online, target, s2, q_on, q_tg


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Double DQN: the online network chooses a' = argmax Q_online(s'), the target network gives its value Q_target(s', a')."
)
@pytest.mark.parametrize("batch", [1, 6, 9])
def test_double_dqn_targets_values(student, batch):
    online, target, s2, q_on, q_tg = double_inputs(batch)
    r, done = randn(batch, seed=41), torch.arange(batch) % 3 == 2
    live = (~done).double()
    picked = q_tg.gather(1, q_on.argmax(1, keepdim=True)).squeeze(1)
    got = student.run(_nets, online, target, r, s2, done, 0.9, True)
    assert_close(
        got["y"],
        r + 0.9 * live * picked,
        what="targets",
        mistakes={
            "the argmax came from the target network (that is plain DQN)": r + 0.9 * live * q_tg.max(1).values,
            "the networks' roles are swapped: the online network must choose and the target network evaluate": r
            + 0.9 * live * q_on.gather(1, q_tg.argmax(1, keepdim=True)).squeeze(1),
            "the value came from the online network": r + 0.9 * live * q_on.max(1).values,
        }
        if batch > 1
        else None,
    )


@pytest.mark.points(2)
@pytest.mark.hint("Neither network may receive gradient from the target; terminal rows are just r.")
def test_double_dqn_targets_no_gradient_and_masking(student):
    online, target, s2, q_on, q_tg = double_inputs(6)
    r = randn(6, seed=42)
    got = student.run(_nets, online, target, r, s2, torch.ones(6, dtype=torch.bool), 0.9, True)
    if got["requires_grad"]:
        fail(f"the target depends on a network's parameters through autograd (gradient reached {got['reached']})")
    assert_close(
        got["y"],
        r,
        what="targets of terminal transitions",
        mistakes={"bootstrapped past terminal": r + 0.9 * q_tg.gather(1, q_on.argmax(1, keepdim=True)).squeeze(1)},
    )


# --- dqn_loss -------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Gather each row's Q at its action, then the Huber loss with δ = 1 (F.smooth_l1_loss), averaged over the batch."
)
@pytest.mark.parametrize("batch", [1, 5, 9])
def test_dqn_loss_is_huber(student, batch):
    q = randn(batch, ACTIONS, seed=51, scale=2.0)
    actions = torch.arange(batch) % ACTIONS
    targets = randn(batch, seed=52, scale=2.0)
    chosen = q[torch.arange(batch), actions]
    got = student.run(_loss_grads, q, actions, targets)
    assert_close(
        got["loss"],
        F.huber_loss(chosen, targets, delta=1.0),
        what="loss",
        mistakes={
            "the mean squared error was used, not the Huber loss": F.mse_loss(chosen, targets),
            "the max over actions was used instead of the action taken": F.huber_loss(
                q.max(1).values, targets, delta=1.0
            ),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("Only Q(s, a) of the actions taken gets gradient; the targets are constants (detach them).")
def test_dqn_loss_gradients(student):
    q = randn(7, ACTIONS, seed=53, scale=2.0)
    actions = torch.tensor([3, 0, 1, 1, 2, 0, 3])
    targets = randn(7, seed=54, scale=2.0)
    got = student.run(_loss_grads, q, actions, targets)
    leaf = q.clone().requires_grad_()
    F.smooth_l1_loss(leaf.gather(1, actions.view(-1, 1)).squeeze(1), targets).backward()
    if got["target_grad"] is not None and got["target_grad"].abs().sum() > 0:
        fail("the loss sends gradient into the targets: they are constants for this update")
    assert_close(got["q_grad"], leaf.grad, what="gradient of the loss w.r.t. the Q-values")
