"""Hidden tests of week 7, adam.py: Adam (with L2 weight decay and amsgrad) and AdamW.

Every test runs a probe that builds the learner's optimizer on fresh parameters of shapes (1,),
(7, 5) and (2, 3, 4), feeds it seeded gradients and returns the parameters after each step; the
expected trajectory is the same probe run here on torch.optim (TORCH stands in for the learner's
module), over 20 steps. Classic mistakes are named from a trajectory computed at test time: torch's
Adam where AdamW was asked (and back), or the first step of a hand-written wrong rule.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from grader.testing import assert_close, fail, is_close, randn

pytestmark = [pytest.mark.exercise("adam"), pytest.mark.timeout(30)]
# Building the first torch.optim optimizer imports torch._dynamo (2-3 s, more on a busy machine): do it here,
# at collection, not under a test's time limit. The learner's optimizer pays the same import in its sandbox
# on its first test, hence the longer limit.
torch.optim.SGD([torch.zeros(1, requires_grad=True)])

TORCH = SimpleNamespace(Adam=torch.optim.Adam, AdamW=torch.optim.AdamW)
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


def run_both(student, name, options, *, seed=1, steps=20, groups=None, scale=1.0, no_grad_at=(2, 5), grad_scales=None):
    inits, grads = make_run(seed, steps, scale, no_grad_at)
    if grad_scales is not None:  # a different gradient scale per parameter
        grads = [[None if g is None else g * s for g, s in zip(step, grad_scales)] for step in grads]
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


# --- Adam ---------------------------------------------------------------------------------------

ADAM = [
    {},
    {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.01, "amsgrad": True},
]


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "m and v are moving averages of g and g², both bias-corrected by 1 - βᵗ with the parameter's own step count t; "
    "p -= lr·m̂/(√v̂ + eps)."
)
@pytest.mark.parametrize("options", ADAM, ids=ids)
def test_adam_trajectory_matches_torch(student, options):
    got, want, _ = run_both(student, "Adam", options, seed=1)
    compare_trajectories(got, want, label("Adam", options))


@pytest.mark.points(3)
@pytest.mark.hint("m and v start at 0, which biases them towards 0 early on: what does dividing by 1 - βᵗ do at t = 1?")
def test_adam_first_step_moves_each_coordinate_by_about_lr(student):
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    got, want, (inits, grads) = run_both(student, "Adam", {"lr": lr}, seed=2, steps=1, grad_scales=(0.01, 1.0, 100.0))
    sign = torch.sign
    mistakes = {
        "no bias correction: the first step moves each coordinate by 3.16× lr, expected ≈ lr": first_step(
            inits, grads, lambda g: lr * (1 - b1) * g / (torch.sqrt((1 - b2) * g * g) + eps)
        ),
        "m is not bias-corrected: the first step moves each coordinate by 0.1× lr, expected ≈ lr": first_step(
            inits, grads, lambda g: lr * (1 - b1) * g / (g.abs() + eps)
        ),
        "v is not bias-corrected: the first step moves each coordinate by 31.6× lr, expected ≈ lr": first_step(
            inits, grads, lambda g: lr * g / (torch.sqrt((1 - b2) * g * g) + eps)
        ),
        "the first step is lr·sign(g) exactly: is eps in the denominator?": first_step(inits, grads, lambda g: lr * sign(g)),
    }
    compare_trajectories(got, want, "Adam's first step", mistakes)


@pytest.mark.points(2)
@pytest.mark.hint(
    "Compare your eps placement with torch.optim.Adam's docs: eps is added after the square root, and after v's bias correction."
)
def test_adam_eps_placement_for_tiny_gradients(student):
    lr, b2, eps = 0.001, 0.999, 1e-8
    got, want, (inits, grads) = run_both(student, "Adam", {}, seed=3, steps=1, scale=1e-4)
    mistakes = {
        "eps added inside the square root: the step is 30% too small for gradients of 1e-4": first_step(
            inits, grads, lambda g: lr * g / torch.sqrt(g * g + eps)
        ),
        "eps added before v's bias correction (√v + eps, then divided by √(1 - β₂ᵗ))": first_step(
            inits, grads, lambda g: lr * g * (1 - b2) ** 0.5 / (torch.sqrt((1 - b2) * g * g) + eps)
        ),
    }
    compare_trajectories(got, want, "Adam, first step with gradients of 1e-4", mistakes)
    got, want, _ = run_both(student, "Adam", {}, seed=3, steps=20, scale=1e-4)
    compare_trajectories(got, want, "Adam, 20 steps with gradients of 1e-4")


@pytest.mark.points(2)
@pytest.mark.hint(
    "amsgrad keeps the running maximum of v (raw, before bias correction) and uses it in place of v; "
    "it matters once the gradients shrink."
)
def test_adam_amsgrad_uses_the_running_max_of_v(student):
    options = {"lr": 0.01, "amsgrad": True}
    inits, grads = make_run(4, 12, 1.0, ())
    grads = [[g * 0.5**k for g in step] for k, step in enumerate(grads)]  # shrinking gradients
    got = student.run(_trajectory, "Adam", inits, grads, options, None)
    want = _trajectory(TORCH, "Adam", inits, grads, options, None)
    plain = _trajectory(TORCH, "Adam", inits, grads, {"lr": 0.01}, None)
    compare_trajectories(got, want, "Adam(amsgrad=True), shrinking gradients", {"amsgrad=True was ignored": plain})


@pytest.mark.points(2)
@pytest.mark.hint("In Adam (not AdamW) weight decay is an L2 term: weight_decay·p is added to the gradient before m and v are updated.")
def test_adam_weight_decay_is_an_l2_term_in_the_gradient(student):
    options = {"lr": 0.01, "weight_decay": 0.5}
    got, want, (inits, grads) = run_both(student, "Adam", options, seed=5, steps=8)
    decoupled = _trajectory(TORCH, "AdamW", inits, grads, options, None)
    ignored = _trajectory(TORCH, "Adam", inits, grads, {"lr": 0.01}, None)
    compare_trajectories(
        got, want, "Adam(weight_decay=0.5)",
        {
            "matches AdamW: Adam's weight_decay is an L2 term added to the gradient, not decoupled": decoupled,
            "weight_decay was ignored": ignored,
        },
    )


# --- AdamW --------------------------------------------------------------------------------------

ADAMW = [{}, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}, {"lr": 0.005, "betas": (0.5, 0.9), "weight_decay": 0.3}]


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("AdamW shrinks the weights by (1 - lr·weight_decay), then takes the Adam step with the raw gradient.")
@pytest.mark.parametrize("options", ADAMW, ids=ids)
def test_adamw_trajectory_matches_torch(student, options):
    got, want, _ = run_both(student, "AdamW", options, seed=6)
    compare_trajectories(got, want, label("AdamW", options))


@pytest.mark.points(3)
@pytest.mark.hint("Decoupled decay acts on the weights, not on the gradient: the adaptive denominator must never see it.")
def test_adamw_is_not_adam_with_l2(student):
    options = {"lr": 0.01, "weight_decay": 0.5}
    got, want, (inits, grads) = run_both(student, "AdamW", options, seed=7, steps=1)
    as_l2 = _trajectory(TORCH, "Adam", inits, grads, options, None)
    if is_close(as_l2, want):
        fail("test error: Adam+L2 and AdamW should differ after one step")
    compare_trajectories(got, want, "AdamW(weight_decay=0.5), first step", {"matches Adam+L2, not AdamW": as_l2})
    got, want, _ = run_both(student, "AdamW", options, seed=7, steps=20)
    compare_trajectories(got, want, "AdamW(weight_decay=0.5), 20 steps")


@pytest.mark.points(2)
@pytest.mark.hint("The decay factor is 1 - lr·weight_decay: the learning rate scales the decay too (torch's convention).")
def test_adamw_decay_is_scaled_by_lr(student):
    options = {"lr": 0.05, "weight_decay": 0.2}
    got, want, (inits, grads) = run_both(student, "AdamW", options, seed=8, steps=1)
    adam = _trajectory(TORCH, "Adam", inits, grads, {"lr": 0.05}, None)
    unscaled = [[a - 0.2 * p for a, p in zip(adam[0], inits)]]
    compare_trajectories(
        got, want, "AdamW(lr=0.05, weight_decay=0.2), first step",
        {"the weights shrank by (1 - weight_decay), not (1 - lr·weight_decay)": unscaled,
         "weight_decay was ignored": adam},
    )


# --- both: parameter groups and missing gradients -----------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "Each parameter has its own step count t, which advances only when its .grad is not None; "
    "and each group's hyper-parameters come from its own dict."
)
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_per_parameter_step_count_with_missing_grads_and_two_groups(student, name):
    options = {"lr": 0.01}
    groups = [{"params": [0, 2]}, {"params": [1], "lr": 0.03, "betas": (0.5, 0.9), "weight_decay": 0.1}]
    got, want, (inits, grads) = run_both(student, name, options, seed=9, steps=12, groups=groups, no_grad_at=(0, 1, 5))
    one_group = _trajectory(TORCH, name, inits, grads, options, None)
    compare_trajectories(
        got, want, f"{name}, two groups, parameter 1 (group 2) without grad at steps 1, 2 and 6",
        {"the second group used the first group's hyper-parameters": one_group},
    )
