"""Hidden tests of week 7, sgd.py: SGD with momentum, dampening, Nesterov and weight decay.

Optimizers are stateful, so every test runs a probe: it builds the learner's optimizer (m.SGD)
on fresh parameters, feeds it a seeded sequence of gradients and returns the parameters after
each step. The expected trajectory is the same probe run here on torch.optim (the TORCH
namespace stands in for the learner's module), on the same inputs. The three parameters have
shapes (1,), (7, 5) and (2, 3, 4); the second one has no gradient (grad None) at some steps.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from grader.testing import assert_close, fail, is_close, randn

pytestmark = [pytest.mark.exercise("sgd"), pytest.mark.timeout(30)]
# Building the first torch.optim optimizer imports torch._dynamo (2-3 s, more on a busy machine): do it here,
# at collection, not under a test's time limit. The learner's optimizer pays the same import in its sandbox
# on its first test, hence the longer limit.
torch.optim.SGD([torch.zeros(1, requires_grad=True)])

TORCH = SimpleNamespace(SGD=torch.optim.SGD)
"""Stands in for the learner's module: the same probe, run on torch.optim."""

PARAM_SHAPES = [(1,), (7, 5), (2, 3, 4)]


def make_run(seed: int, steps: int, scale: float = 1.0, no_grad_at: tuple[int, ...] = (2, 5)):
    """Initial parameters and, per step, one gradient per parameter (None for parameter 1 at `no_grad_at`)."""
    inits = [randn(*shape, seed=seed + i) for i, shape in enumerate(PARAM_SHAPES)]
    grads = [
        [None if (i == 1 and k in no_grad_at) else randn(*shape, seed=1000 * seed + 10 * k + i, scale=scale)
         for i, shape in enumerate(PARAM_SHAPES)]
        for k in range(steps)
    ]
    return inits, grads


def _trajectory(m, name, inits, grads, options, groups):
    params = [t.clone().requires_grad_() for t in inits]
    if groups is None:
        param_groups = params
    else:
        param_groups = [dict(g, params=[params[i] for i in g["params"]]) for g in groups]
    opt = getattr(m, name)(param_groups, **options)
    out = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.clone()
        opt.step()
        out.append([p.detach().clone() for p in params])
    return out


def _zero_grad(m, kwargs):
    a = torch.ones(3, dtype=torch.float64, requires_grad=True)
    b = torch.full((2, 2), 2.0, dtype=torch.float64, requires_grad=True)
    c = torch.ones(4, dtype=torch.float64, requires_grad=True)  # never used: its grad stays None
    (a.sum() + (b * b).sum()).backward()
    opt = m.SGD([{"params": [a]}, {"params": [b, c], "lr": 0.5}], lr=0.1)
    grad_b = b.grad
    opt.zero_grad(**kwargs)
    grads = {name: None if p.grad is None else p.grad.clone() for name, p in (("a", a), ("b", b), ("c", c))}
    return {"grads": grads, "b.grad is the same tensor": b.grad is grad_b}


def compare_trajectories(got, want, label, mistakes=None):
    """Fail at the first step and parameter that differ, naming a classic mistake when one matches."""
    __tracebackhide__ = True
    if not isinstance(got, list) or len(got) != len(want):
        fail(f"{label}: the probe expected {len(want)} steps of parameters, got {type(got).__name__}")
    for k, (got_step, want_step) in enumerate(zip(got, want)):
        for i, (g, w) in enumerate(zip(got_step, want_step)):
            if is_close(g, w):
                continue
            for message, wrong in (mistakes or {}).items():
                if is_close(got, wrong):
                    fail(message)
            assert_close(g, w, what=f"{label}: parameter {i} of shape {tuple(w.shape)} after step {k + 1}")


def run_both(student, options, *, seed=1, steps=10, groups=None, scale=1.0, no_grad_at=(2, 5)):
    inits, grads = make_run(seed, steps, scale, no_grad_at)
    got = student.run(_trajectory, "SGD", inits, grads, options, groups)
    want = _trajectory(TORCH, "SGD", inits, grads, options, groups)
    return got, want, (inits, grads)


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("Plain SGD: each parameter moves against its gradient by lr times the gradient.")
def test_sgd_without_momentum_matches_torch(student):
    got, want, (inits, grads) = run_both(student, {"lr": 0.1})
    ascended = _trajectory(TORCH, "SGD", inits, [[None if g is None else -g for g in s] for s in grads], {"lr": 0.1}, None)
    compare_trajectories(got, want, "SGD(lr=0.1)", {"the parameters move along the gradient, not against it": ascended})


FLAGS = [
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.8, "dampening": 0.5},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.1, "weight_decay": 0.1},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.05},
    {"lr": 0.05, "momentum": 0.7, "nesterov": True, "weight_decay": 0.1},
]


@pytest.mark.points(1)
@pytest.mark.hint(
    "Apply weight decay to the gradient first, then the momentum buffer (dampening scales the new gradient), "
    "then Nesterov's look-ahead; compare your order with torch.optim.SGD's documented algorithm."
)
@pytest.mark.parametrize("options", FLAGS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items() if k != "lr"))
def test_sgd_trajectory_matches_torch_for_each_flag_combination(student, options):
    got, want, _ = run_both(student, options, seed=2)
    compare_trajectories(got, want, f"SGD({options})")


@pytest.mark.points(2)
@pytest.mark.hint(
    "torch starts the momentum buffer at the first gradient itself (a copy), not at zeros: "
    "dampening applies only from the second step on."
)
def test_sgd_first_momentum_buffer_is_the_gradient(student):
    options = {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}
    got, want, (inits, grads) = run_both(student, options, seed=3, steps=1)
    zero_start = [[p - 0.1 * 0.5 * g for p, g in zip(inits, grads[0])]]
    compare_trajectories(
        got, want, "first step with momentum 0.9, dampening 0.5",
        {"momentum buffer started at zeros: the first step is damped by (1 - dampening)": zero_start},
    )
    got, want, _ = run_both(student, options, seed=3, steps=3, no_grad_at=())
    compare_trajectories(got, want, "three steps with momentum 0.9, dampening 0.5")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Nesterov evaluates the step at the look-ahead: the update is the gradient plus momentum times the new buffer."
)
def test_sgd_nesterov_differs_from_plain_momentum_like_torch(student):
    options = {"lr": 0.05, "momentum": 0.9, "nesterov": True}
    got, want, (inits, grads) = run_both(student, options, seed=4, steps=6)
    plain = _trajectory(TORCH, "SGD", inits, grads, {"lr": 0.05, "momentum": 0.9}, None)
    compare_trajectories(got, want, "SGD with Nesterov", {"nesterov=True was ignored: matches plain momentum": plain})


@pytest.mark.points(2)
@pytest.mark.hint(
    "Weight decay adds weight_decay·p to the gradient before momentum, so the decay term is accumulated in the buffer too."
)
def test_sgd_weight_decay_enters_the_momentum_buffer(student):
    options = {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.5}
    got, want, (inits, grads) = run_both(student, options, seed=5, steps=6)
    ignored = _trajectory(TORCH, "SGD", inits, grads, {"lr": 0.05, "momentum": 0.9}, None)
    compare_trajectories(got, want, "SGD with weight decay", {"weight_decay was ignored": ignored})


@pytest.mark.points(2)
@pytest.mark.hint(
    "Read each group's own hyper-parameters from its dict, and skip a parameter whose .grad is None "
    "(no update, and its momentum buffer does not move either)."
)
def test_sgd_two_param_groups_and_params_without_grad(student):
    options = {"lr": 0.01, "momentum": 0.9}
    groups = [{"params": [0, 2]}, {"params": [1], "lr": 0.1, "momentum": 0.5, "weight_decay": 0.1}]
    got, want, (inits, grads) = run_both(student, options, seed=6, steps=8, groups=groups, no_grad_at=(0, 3, 4))
    first_group_only = _trajectory(TORCH, "SGD", inits, grads, options, [{"params": [0, 1, 2]}])
    compare_trajectories(
        got, want, "two groups, parameter 1 (group 2) without grad at steps 1, 4 and 5",
        {"the second group used the first group's hyper-parameters": first_group_only},
    )


@pytest.mark.points(1)
@pytest.mark.hint("zero_grad() sets every .grad to None by default; with set_to_none=False it fills each one with zeros in place.")
@pytest.mark.parametrize("kwargs", [{}, {"set_to_none": True}, {"set_to_none": False}], ids=str)
def test_sgd_zero_grad_like_torch(student, kwargs):
    got = student.run(_zero_grad, kwargs)
    want = _zero_grad(TORCH, kwargs)
    if not isinstance(got, dict) or set(got) != set(want):
        fail(f"the probe returned {type(got).__name__}, expected a dict")
    for name, w in want["grads"].items():
        g = got["grads"][name]
        if w is None and g is not None:
            fail(f"zero_grad({kwargs}): parameter {name}.grad should be None afterwards, got a tensor")
        if w is not None:
            if g is None:
                fail(f"zero_grad({kwargs}): parameter {name}.grad became None; set_to_none=False keeps a zero tensor")
            assert_close(g, w, what=f"zero_grad({kwargs}): {name}.grad")
    if kwargs.get("set_to_none") is False and not got["b.grad is the same tensor"]:
        fail("zero_grad(set_to_none=False) replaced .grad with a new tensor; fill the existing one with zeros in place")


def _step_after_zero_grad(m, inits, grads):
    params = [t.clone().requires_grad_() for t in inits]
    opt = m.SGD(params, lr=0.1, momentum=0.9)
    for p, g in zip(params, grads):
        p.grad = g.clone()
    opt.step()
    after_first = [p.detach().clone() for p in params]
    opt.zero_grad()
    opt.step()  # no parameter has a gradient now: nothing may move, momentum or not
    return {"after first step": after_first, "after zero_grad and step": [p.detach().clone() for p in params]}


@pytest.mark.points(1)
@pytest.mark.hint("After zero_grad() every .grad is None, and step() skips parameters without a gradient: nothing moves.")
def test_sgd_step_after_zero_grad_moves_nothing(student):
    inits, grads = make_run(7, 1, no_grad_at=())
    got = student.run(_step_after_zero_grad, inits, grads[0])
    want = _step_after_zero_grad(TORCH, inits, grads[0])
    assert_close(got["after first step"], want["after first step"], what="parameters after the first step")
    assert_close(
        got["after zero_grad and step"], want["after zero_grad and step"], what="parameters after zero_grad() and another step",
        mistakes={"parameters kept moving with their momentum although they had no gradient": [
            p + 0.9 * (p - q) for p, q in zip(want["after first step"], inits)
        ]},
    )
