"""Hidden tests of week 7, schedules.py: step decay and linear warm-up + cosine decay.

The expected learning rates come from torch.optim.lr_scheduler at test time: an SGD optimizer is
stepped through the epochs, reading `get_last_lr()` during each epoch and calling
`scheduler.step()` at its end, so the value of epoch (or step) e is the one epoch e trains with.
"""

from __future__ import annotations

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR, StepLR

from grader.testing import assert_close, fail

pytestmark = pytest.mark.exercise("schedules")
# Building the first torch.optim optimizer imports torch._dynamo (2-3 s, more on a busy machine): do it here,
# at collection, not under a test's time limit.
torch.optim.SGD([torch.zeros(1, requires_grad=True)])


def torch_lrs(make_scheduler, base_lr: float, steps: int) -> list[float]:
    """The learning rate each of `steps` epochs trains with, under torch's scheduler."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base_lr)
    scheduler = make_scheduler(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(float(scheduler.get_last_lr()[0]))
        opt.step()
        scheduler.step()
    return lrs


def torch_step_lr(base_lr, step_size, gamma, epochs):
    return torch_lrs(lambda opt: StepLR(opt, step_size=step_size, gamma=gamma), base_lr, epochs)


def torch_warmup_cosine(base_lr, warmup_steps, total_steps, min_lr, steps=None):
    steps = total_steps if steps is None else steps
    decay = total_steps - 1 - warmup_steps
    if warmup_steps == 0:
        return torch_lrs(lambda opt: CosineAnnealingLR(opt, T_max=decay, eta_min=min_lr), base_lr, steps)

    def make(opt):
        warm = LinearLR(opt, start_factor=1 / (warmup_steps + 1), end_factor=1.0, total_iters=warmup_steps)
        cosine = CosineAnnealingLR(opt, T_max=decay, eta_min=min_lr)
        return SequentialLR(opt, [warm, cosine], milestones=[warmup_steps])

    return torch_lrs(make, base_lr, steps)


def numbers(values, name):
    __tracebackhide__ = True
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(f"{name} must return a Python float, got {type(value).__name__}")
    return values


# --- step_lr ------------------------------------------------------------------------------------

STEP_CASES = [(1.0, 2, 0.5, 5), (0.1, 3, 0.1, 10), (0.05, 1, 0.9, 6), (0.3, 4, 0.5, 13)]


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("The lr is multiplied by gamma once every step_size epochs; count epochs from 0.")
@pytest.mark.parametrize("base_lr, step_size, gamma, epochs", STEP_CASES, ids=str)
def test_step_lr_matches_StepLR(student, base_lr, step_size, gamma, epochs):
    want = torch_step_lr(base_lr, step_size, gamma, epochs + 1)
    got = numbers([student.step_lr(e, base_lr, step_size, gamma) for e in range(epochs)], "step_lr")
    assert_close(
        got, want[:epochs], what=f"step_lr for epochs 0..{epochs - 1} (step_size={step_size}, gamma={gamma})",
        mistakes={"lr drops one epoch early: epoch 0 must use base_lr, the first drop comes at epoch step_size": want[1:]},
    )


@pytest.mark.points(2)
@pytest.mark.hint("What lr does epoch 0 use? The first drop happens after step_size full epochs, not after step_size - 1.")
def test_step_lr_is_not_off_by_one(student):
    for step_size in (1, 2, 5):
        want = torch_step_lr(0.5, step_size, 0.1, 2 * step_size + 2)
        got = numbers([student.step_lr(e, 0.5, step_size, 0.1) for e in range(2 * step_size + 1)], "step_lr")
        assert_close(
            got, want[:-1], what=f"step_lr with step_size={step_size}",
            mistakes={"lr drops one epoch early: epoch 0 must use base_lr": want[1:],
                      "lr drops one epoch late": [0.5] + want[:-2]},
        )


# --- warmup_cosine ------------------------------------------------------------------------------

COSINE_CASES = [(1.0, 3, 8, 0.0), (0.1, 5, 20, 1e-3), (3e-4, 1, 12, 1e-5), (2.0, 2, 5, 0.5)]


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Warm-up: base_lr·(s + 1)/(warmup_steps + 1); then half a cosine from base_lr at step warmup_steps "
    "to min_lr at the last step, total_steps - 1."
)
@pytest.mark.parametrize("base_lr, warmup, total, min_lr", COSINE_CASES, ids=str)
def test_warmup_cosine_matches_SequentialLR_of_LinearLR_and_CosineAnnealingLR(student, base_lr, warmup, total, min_lr):
    want = torch_warmup_cosine(base_lr, warmup, total, min_lr)
    got = numbers([student.warmup_cosine(s, base_lr, warmup, total, min_lr) for s in range(total)], "warmup_cosine")
    assert_close(
        got, want, rtol=1e-9, atol=1e-12,
        what=f"warmup_cosine for steps 0..{total - 1} (warmup_steps={warmup}, total_steps={total}, min_lr={min_lr})",
    )


@pytest.mark.points(2)
@pytest.mark.hint("Without warm-up the schedule is a pure half cosine from base_lr at step 0 to min_lr at step total_steps - 1.")
@pytest.mark.parametrize("base_lr, total, min_lr", [(1.0, 10, 0.0), (0.01, 7, 1e-4)], ids=str)
def test_warmup_cosine_without_warmup_matches_CosineAnnealingLR(student, base_lr, total, min_lr):
    want = torch_warmup_cosine(base_lr, 0, total, min_lr)
    got = numbers([student.warmup_cosine(s, base_lr, 0, total, min_lr) for s in range(total)], "warmup_cosine")
    assert_close(got, want, rtol=1e-9, atol=1e-12, what=f"warmup_cosine with warmup_steps=0, total_steps={total}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Step 0 trains with a small but non-zero lr; the cosine's progress is counted from the end of the warm-up and "
    "reaches 1 exactly at the last step, total_steps - 1; after that the lr stays at min_lr."
)
def test_warmup_cosine_first_step_last_step_and_beyond(student):
    base_lr, warmup, total, min_lr = 0.4, 4, 15, 0.01
    want = torch_warmup_cosine(base_lr, warmup, total, min_lr)
    first = student.warmup_cosine(0, base_lr, warmup, total, min_lr)
    assert_close(
        first, want[0], what="the lr of step 0",
        mistakes={"the warm-up starts at 0: step 0 would not train at all": 0.0,
                  "the warm-up is off by one: step 0 should already train": base_lr / warmup},
    )
    last = numbers([student.warmup_cosine(total - 1, base_lr, warmup, total, min_lr)], "warmup_cosine")[0]
    if abs(last - min_lr) > 1e-12:
        fail(f"the last step (total_steps - 1 = {total - 1}) should use min_lr = {min_lr}, got {last:.6g}: is the cosine off by one step?")
    beyond = [student.warmup_cosine(s, base_lr, warmup, total, min_lr) for s in (total, total + 3, 2 * total)]
    if any(abs(v - min_lr) > 1e-12 for v in numbers(beyond, "warmup_cosine")):
        fail(f"steps past the last one should stay at min_lr = {min_lr}, got {[round(v, 6) for v in beyond]}")
