"""Hidden tests of week 8, penalties.py: the L2 penalty and elastic weight consolidation.

The L2 penalty is checked the way it is used: training with loss + l2_penalty under plain SGD must
move every parameter exactly as torch.optim.SGD(weight_decay=λ) does when only the weights (the
parameters with 2 or more dims) are in the decayed group. That pins the ½ and the choice of
parameters at once. EWC is checked against its formula, at and around the anchor, and through
autograd: its gradient is λ·F·(θ - θ*).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.testing import assert_close, fail, is_close, randn

pytestmark = pytest.mark.exercise("penalties")

MODELS = ["mlp", "conv", "single_row"]


def _train(m, spec, seed, lam, lr, steps, decayed, weight_decay):
    """Train `steps` steps of SGD on mse + m.l2_penalty: by hand when `decayed` is None, else with torch's SGD."""
    torch.manual_seed(seed)
    if spec == "conv":
        model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2))
        x, y = torch.randn(5, 2, 4, 4), torch.randn(5, 2)
    elif spec == "single_row":
        model = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Tanh(), nn.Linear(4, 1))
        x, y = torch.randn(1, 3), torch.randn(1, 1)
    else:
        model = nn.Sequential(nn.Linear(5, 7), nn.LayerNorm(7), nn.Tanh(), nn.Linear(7, 3))
        x, y = torch.randn(9, 5), torch.randn(9, 3)
    model = model.double()
    x, y = x.double(), y.double()
    with torch.no_grad():
        for tensor in model.parameters():  # move the norm weights and biases away from 1 and 0
            tensor.add_(0.3 * torch.randn_like(tensor))
    named = list(model.named_parameters())
    optimizer = None
    if decayed is not None:  # torch's SGD, weight decay on the parameters named in `decayed`
        groups = [
            {"params": [p for n, p in named if n in decayed], "weight_decay": weight_decay},
            {"params": [p for n, p in named if n not in decayed], "weight_decay": 0.0},
        ]
        optimizer = torch.optim.SGD(groups, lr=lr)
    for _ in range(steps):
        model.zero_grad()
        loss = F.mse_loss(model(x), y) + m.l2_penalty(model, lam)
        loss.backward()
        if optimizer is not None:
            optimizer.step()
        else:  # plain SGD by hand: the learner's penalty must do all the decaying
            with torch.no_grad():
                for _, p in named:
                    p -= lr * p.grad
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _penalty_and_grads(m, spec, seed, lam):
    torch.manual_seed(seed)
    if spec == "conv":
        model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Linear(2, 2))
    elif spec == "single_row":
        model = nn.Sequential(nn.Linear(3, 1, bias=False), nn.Linear(1, 1))
    else:
        model = nn.Sequential(nn.Linear(5, 7), nn.LayerNorm(7), nn.Linear(7, 3))
    model = model.double()
    with torch.no_grad():
        for tensor in model.parameters():
            tensor.add_(0.3 * torch.randn_like(tensor))
    penalty = m.l2_penalty(model, lam)
    shape = tuple(penalty.shape)
    penalty.backward()
    grads = {n: (torch.zeros_like(p) if p.grad is None else p.grad) for n, p in model.named_parameters()}
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    return {"value": penalty.detach(), "shape": shape, "grads": grads, "weights": weights}


def _no_weights(m, lam):
    model = nn.Sequential(nn.LayerNorm(4), nn.BatchNorm1d(4)).double()
    penalty = m.l2_penalty(model, lam)
    return penalty.detach(), tuple(penalty.shape)


def _ewc_grad(m, anchor, fisher, lam, delta):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).double()
    with torch.no_grad():
        for param, a, d in zip(model.parameters(), anchor, delta):
            param.copy_(a + d)
    penalty = m.ewc_penalty(model.parameters(), anchor, fisher, lam)
    penalty.backward()
    return [p.grad for p in model.parameters()]


@pytest.fixture(scope="module", autouse=True)
def _warm_torch_optim():
    """torch.optim's first optimizer step imports a lot (1-3 s here); pay it once, outside the tests' timing."""
    param = nn.Parameter(torch.zeros(1))
    param.grad = torch.zeros(1)
    torch.optim.SGD([param], lr=0.1).step()


NO_PENALTY = SimpleNamespace(l2_penalty=lambda model, lam: torch.zeros((), dtype=torch.float64))
"""Stands in for a learner's module when torch's SGD(weight_decay=...) does the regularizing."""


def weight_names(spec: str) -> list[str]:
    shapes = _train(NO_PENALTY, spec, 0, 0.0, 0.0, 0, None, 0.0)
    return [name for name, value in shapes.items() if value.dim() >= 2]


def all_names(spec: str) -> list[str]:
    return list(_train(NO_PENALTY, spec, 0, 0.0, 0.0, 0, None, 0.0))


def ewc_case(seed: int):
    """Parameters of three shapes, an anchor and a positive Fisher diagonal."""
    shapes = [(3,), (4, 5), (2, 3, 2)]
    params = [randn(*s, seed=seed + i) for i, s in enumerate(shapes)]
    anchor = [randn(*s, seed=seed + 10 + i) for i, s in enumerate(shapes)]
    fisher = [randn(*s, seed=seed + 20 + i).abs() + 0.1 for i, s in enumerate(shapes)]
    return params, anchor, fisher


def ewc_formula(params, anchor, fisher, lam, half=0.5):
    return half * lam * sum((f * (p - a) ** 2).sum() for p, a, f in zip(params, anchor, fisher))


# --- l2_penalty ---------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "SGD(weight_decay=λ) adds λ·w to each weight's gradient: which penalty has gradient λ·w? "
    "And which parameters should regularization pull to zero?"
)
@pytest.mark.parametrize("spec", MODELS)
def test_l2_penalty_trains_like_sgd_weight_decay_on_the_weights(student, spec):
    lam, lr, steps = 0.3, 0.1, 3
    weights = weight_names(spec)
    got = student.run(_train, spec, 1, lam, lr, steps, None, 0.0)
    want = _train(NO_PENALTY, spec, 1, lam, lr, steps, weights, lam)
    if is_close(got, want):
        return
    norm_weights = [n for n in all_names(spec) if n.endswith("weight")]
    matrices = [n for n, v in _train(NO_PENALTY, spec, 0, 0.0, 0.0, 0, None, 0.0).items() if v.dim() == 2]
    assert_close(
        got,
        want,
        what="parameters after 3 SGD steps",
        mistakes={
            "the ½ is missing: your penalty decays the weights twice as fast as SGD(weight_decay=λ)": _train(
                NO_PENALTY, spec, 1, lam, lr, steps, weights, 2 * lam
            ),
            "biases and norm parameters were penalized too: only weights (2+ dims) should be": _train(
                NO_PENALTY, spec, 1, lam, lr, steps, all_names(spec), lam
            ),
            "norm-layer weights were penalized: only weights with 2+ dims should be": _train(
                NO_PENALTY, spec, 1, lam, lr, steps, norm_weights, lam
            ),
            "the penalty changed nothing: it must stay connected to the weights through autograd": _train(
                NO_PENALTY, spec, 1, lam, lr, steps, [], 0.0
            ),
            "only 2-d weights were penalized: conv kernels (4-d) are weights too": _train(
                NO_PENALTY, spec, 1, lam, lr, steps, matrices, lam
            ),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("The penalty is a 0-d tensor, (λ/2)·Σ w² over the weights; its gradient is λ·w and 0 elsewhere.")
@pytest.mark.parametrize("spec", MODELS)
def test_l2_penalty_value_and_gradient(student, spec):
    lam = 0.7
    got = student.run(_penalty_and_grads, spec, 2, lam)
    if got["shape"] != ():
        fail(f"the penalty has shape {got['shape']}, expected a 0-d tensor (one number)")
    weights = got["weights"]
    decayed = {n: w for n, w in weights.items() if w.dim() >= 2}
    squares = sum(torch.linalg.vector_norm(w) ** 2 for w in decayed.values())
    assert_close(
        got["value"],
        lam / 2 * squares,
        what="penalty",
        mistakes={
            "the ½ is missing: the penalty is (λ/2)·Σ w²": lam * squares,
            "used the norm ‖w‖, not its square": lam / 2 * sum(torch.linalg.vector_norm(w) for w in decayed.values()),
            "biases and norm parameters were penalized too": lam / 2 * sum(w.pow(2).sum() for w in weights.values()),
        },
    )
    want = {n: lam * w if w.dim() >= 2 else torch.zeros_like(w) for n, w in weights.items()}
    assert_close(got["grads"], want, what="gradient of the penalty")


@pytest.mark.points(1)
@pytest.mark.hint("A model whose parameters are all 1-d (norm layers only) has nothing to penalize: return a 0-d zero.")
def test_l2_penalty_of_a_model_without_weights_is_zero(student):
    value, shape = student.run(_no_weights, 0.5)
    if shape != ():
        fail(f"the penalty has shape {shape}, expected a 0-d tensor")
    assert_close(value, torch.tensor(0.0, dtype=value.dtype), what="penalty of a model with only norm layers")


# --- ewc_penalty --------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint("EWC = (λ/2)·Σ F·(θ - θ*)², summed over every element of every parameter.")
@pytest.mark.parametrize("lam", [0.5, 3.0])
def test_ewc_penalty_matches_its_formula(student, lam):
    params, anchor, fisher = ewc_case(30)
    want = ewc_formula(params, anchor, fisher, lam)
    ones = [torch.ones_like(f) for f in fisher]
    assert_close(
        student.ewc_penalty(params, anchor, fisher, lam),
        want,
        mistakes={
            "the ½ is missing: EWC is (λ/2)·Σ F·(θ - θ*)²": ewc_formula(params, anchor, fisher, lam, half=1.0),
            "the Fisher weights were ignored": ewc_formula(params, anchor, ones, lam),
            "the Fisher weights were squared": ewc_formula(params, anchor, [f**2 for f in fisher], lam),
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint("At the anchor nothing has moved; moving t times as far must cost t² times as much.")
def test_ewc_penalty_is_zero_at_the_anchor_and_quadratic_around_it(student):
    _, anchor, fisher = ewc_case(40)
    direction = [randn(*a.shape, seed=50 + i) for i, a in enumerate(anchor)]
    at_anchor = student.ewc_penalty([a.clone() for a in anchor], anchor, fisher, 2.0)
    assert_close(at_anchor, torch.tensor(0.0, dtype=torch.float64), what="penalty at the anchor")
    base = student.ewc_penalty([a + d for a, d in zip(anchor, direction)], anchor, fisher, 2.0)
    for t in (2.0, -3.0):
        moved = student.ewc_penalty([a + t * d for a, d in zip(anchor, direction)], anchor, fisher, 2.0)
        if isinstance(base, torch.Tensor) and isinstance(moved, torch.Tensor) and not torch.allclose(
            moved, t**2 * base, rtol=1e-9
        ):
            fail(f"moving {t:g} times as far from the anchor multiplied the penalty by {float(moved / base):.4g}, expected {t**2:g} (quadratic)")


@pytest.mark.points(2)
@pytest.mark.hint("Differentiate (λ/2)·F·(θ - θ*)² by θ. Treat params as an iterable: it may be model.parameters().")
def test_ewc_penalty_gradient_is_lambda_fisher_times_displacement(student):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).double()
    shapes = [p.shape for p in model.parameters()]
    anchor = [randn(*s, seed=60 + i) for i, s in enumerate(shapes)]
    fisher = [randn(*s, seed=70 + i).abs() + 0.1 for i, s in enumerate(shapes)]
    delta = [randn(*s, seed=80 + i) for i, s in enumerate(shapes)]
    lam = 1.5
    grads = student.run(_ewc_grad, anchor, fisher, lam, delta)
    want = [lam * f * d for f, d in zip(fisher, delta)]
    if isinstance(grads, list) and any(g is None for g in grads):
        fail("some parameters got no gradient: the penalty must be built from params with torch operations")
    assert_close(
        grads,
        want,
        what="gradient",
        mistakes={"the gradient is 2·λ·F·(θ - θ*): the ½ is missing": [2 * g for g in want]},
    )
