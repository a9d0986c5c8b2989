"""Hidden tests of week 7, adaptive.py: Adagrad, RMSprop (plain, centered, with momentum) and Adadelta.

Every test runs a probe that builds the learner's optimizer on fresh parameters of shapes (1,),
(7, 5) and (2, 3, 4), feeds it seeded gradients and returns the parameters after each step; the
expected trajectory is the same probe run here on torch.optim (TORCH stands in for the learner's
module). Tiny gradients (1e-4) make the placement of eps visible: the wrong placement changes
the first step by a factor of 10 or more, and the first step's mistakes are computed from the
update formulas in the test.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from grader.testing import assert_close, fail, is_close, randn

pytestmark = [pytest.mark.exercise("adaptive"), pytest.mark.timeout(30)]
# Building the first torch.optim optimizer imports torch._dynamo (2-3 s, more on a busy machine): do it here,
# at collection, not under a test's time limit. The learner's optimizer pays the same import in its sandbox
# on its first test, hence the longer limit.
torch.optim.SGD([torch.zeros(1, requires_grad=True)])

TORCH = SimpleNamespace(Adagrad=torch.optim.Adagrad, RMSprop=torch.optim.RMSprop, Adadelta=torch.optim.Adadelta)
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


def run_both(student, name, options, *, seed=1, steps=10, groups=None, scale=1.0, no_grad_at=(2, 5)):
    inits, grads = make_run(seed, steps, scale, no_grad_at)
    got = student.run(_trajectory, name, inits, grads, options, groups)
    want = _trajectory(TORCH, name, inits, grads, options, groups)
    return got, want, (inits, grads)


def first_step(inits, grads, delta):
    """The one-step trajectory p - delta(g) of a hand-written (wrong) update rule."""
    return [[p - delta(g) for p, g in zip(inits, grads[0])]]


def label(name, options):
    return f"{name}({', '.join(f'{k}={v}' for k, v in options.items())})"


def ids(options):
    return ",".join(f"{k}={v}" for k, v in options.items()) or "defaults"


# --- Adagrad ------------------------------------------------------------------------------------

ADAGRAD = [
    {},
    {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "initial_accumulator_value": 0.5, "eps": 1e-6},
]


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Adagrad divides by the square root of the running *sum* of squared gradients (plus eps); "
    "the learning rate at a parameter's t-th update is lr / (1 + (t - 1)·lr_decay)."
)
@pytest.mark.parametrize("options", ADAGRAD, ids=ids)
def test_adagrad_trajectory_matches_torch(student, options):
    got, want, _ = run_both(student, "Adagrad", options, seed=1)
    compare_trajectories(got, want, label("Adagrad", options))


@pytest.mark.points(2)
@pytest.mark.hint("Compare your eps placement with the formula in torch.optim.Adagrad's docs: it is added after the square root.")
def test_adagrad_eps_outside_the_sqrt_for_tiny_gradients(student):
    options = {"lr": 0.01, "eps": 1e-6}
    got, want, (inits, grads) = run_both(student, "Adagrad", options, seed=2, steps=1, scale=1e-4)
    inside = first_step(inits, grads, lambda g: 0.01 * g / torch.sqrt(g * g + 1e-6))
    compare_trajectories(
        got, want, "Adagrad, first step with gradients of 1e-4",
        {"eps added inside the square root: the step is ~10x too small for gradients of 1e-4": inside},
    )
    got, want, _ = run_both(student, "Adagrad", options, seed=2, steps=10, scale=1e-4)
    compare_trajectories(got, want, "Adagrad, 10 steps with gradients of 1e-4")


# --- RMSprop ------------------------------------------------------------------------------------

RMSPROP = [
    {},
    {"lr": 0.01, "alpha": 0.9, "centered": True},
    {"lr": 0.01, "momentum": 0.9},
    {"lr": 0.005, "alpha": 0.95, "eps": 1e-6, "weight_decay": 0.1, "momentum": 0.5, "centered": True},
]


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "RMSprop keeps an exponential moving average of g² (α weights the old average); centered also averages g "
    "and uses √(v - ḡ²); with momentum the scaled gradient goes into a buffer."
)
@pytest.mark.parametrize("options", RMSPROP, ids=ids)
def test_rmsprop_trajectory_matches_torch(student, options):
    got, want, _ = run_both(student, "RMSprop", options, seed=3)
    compare_trajectories(got, want, label("RMSprop", options))


@pytest.mark.points(2)
@pytest.mark.hint("Compare your eps placement with the formula in torch.optim.RMSprop's docs: it is added after the square root.")
def test_rmsprop_eps_outside_the_sqrt_for_tiny_gradients(student):
    got, want, (inits, grads) = run_both(student, "RMSprop", {}, seed=4, steps=1, scale=1e-4)
    inside = first_step(inits, grads, lambda g: 0.01 * g / torch.sqrt(0.01 * g * g + 1e-8))
    swapped_alpha = first_step(inits, grads, lambda g: 0.01 * g / (torch.sqrt(0.99 * g * g) + 1e-8))
    compare_trajectories(
        got, want, "RMSprop, first step with gradients of 1e-4",
        {
            "eps added inside the square root: the step is ~10x too small for gradients of 1e-4": inside,
            "α and 1 - α swapped: α weights the old average, 1 - α the new g²": swapped_alpha,
        },
    )
    got, want, _ = run_both(student, "RMSprop", {"centered": True}, seed=4, steps=10, scale=1e-4)
    compare_trajectories(got, want, "centered RMSprop, 10 steps with gradients of 1e-4")


@pytest.mark.points(2)
@pytest.mark.hint("Centered RMSprop divides by an estimate of the gradient's standard deviation: √(v - ḡ²), with ḡ the moving average of g.")
def test_rmsprop_centered_is_not_plain_rmsprop(student):
    options = {"lr": 0.01, "alpha": 0.9, "centered": True}
    got, want, (inits, grads) = run_both(student, "RMSprop", options, seed=5, steps=5)
    plain = _trajectory(TORCH, "RMSprop", inits, grads, {"lr": 0.01, "alpha": 0.9}, None)
    compare_trajectories(got, want, "centered RMSprop", {"centered=True was ignored: matches plain RMSprop": plain})


# --- Adadelta -----------------------------------------------------------------------------------

ADADELTA = [{}, {"lr": 0.5, "rho": 0.95, "eps": 1e-4, "weight_decay": 0.1}]


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Adadelta: Δ = √(u + eps)/√(v + eps)·g with v the moving average of g² and u that of Δ², updated after Δ; p -= lr·Δ."
)
@pytest.mark.parametrize("options", ADADELTA, ids=ids)
def test_adadelta_trajectory_matches_torch(student, options):
    got, want, _ = run_both(student, "Adadelta", options, seed=6)
    compare_trajectories(got, want, label("Adadelta", options))


@pytest.mark.points(2)
@pytest.mark.hint("Adadelta puts eps inside both square roots; at the first step u = 0, so √eps alone sets the step's size.")
def test_adadelta_eps_inside_both_sqrts_for_tiny_gradients(student):
    got, want, (inits, grads) = run_both(student, "Adadelta", {}, seed=7, steps=1, scale=1e-4)
    eps = 1e-6
    mistakes = {
        "eps added outside the square roots: the first step is far too small": first_step(
            inits, grads, lambda g: (0 + eps) / (torch.sqrt(0.1 * g * g) + eps) * g
        ),
        "eps outside the square root of v: the first step is too large for gradients of 1e-4": first_step(
            inits, grads, lambda g: math.sqrt(eps) / (torch.sqrt(0.1 * g * g) + eps) * g
        ),
    }
    compare_trajectories(got, want, "Adadelta, first step with gradients of 1e-4", mistakes)
    got, want, _ = run_both(student, "Adadelta", {}, seed=7, steps=10, scale=1e-4)
    compare_trajectories(got, want, "Adadelta, 10 steps with gradients of 1e-4")


# --- all three: parameter groups and missing gradients -----------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "Read each group's hyper-parameters from its own dict; a parameter whose .grad is None is skipped entirely "
    "(its state, step count included, does not change)."
)
@pytest.mark.parametrize(
    "name, options, second",
    [
        ("Adagrad", {"lr": 0.05, "lr_decay": 0.1}, {"lr": 0.2, "eps": 1e-6}),
        ("RMSprop", {"lr": 0.01}, {"lr": 0.02, "alpha": 0.8, "centered": True, "momentum": 0.5}),
        ("Adadelta", {"lr": 1.0}, {"lr": 0.5, "rho": 0.5}),
    ],
    ids=["Adagrad", "RMSprop", "Adadelta"],
)
def test_two_param_groups_and_params_without_grad(student, name, options, second):
    groups = [{"params": [0, 2]}, {"params": [1], **second}]
    got, want, (inits, grads) = run_both(student, name, options, seed=8, steps=10, groups=groups, no_grad_at=(0, 3, 4))
    one_group = _trajectory(TORCH, name, inits, grads, options, None)
    compare_trajectories(
        got, want, f"{name}, two groups, parameter 1 (group 2) without grad at steps 1, 4 and 5",
        {"the second group used the first group's hyper-parameters": one_group},
    )
