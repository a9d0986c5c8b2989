"""Hidden tests of week 7, meta_learning.py (★ optional): MAML's inner step and meta-gradient.

Autograd graphs do not cross the transport, so probes build the parameters and the tasks' loss
functions where the learner's code runs and return plain tensors. On quadratic tasks,
L(θ) = ½ (θ - c)ᵀ A (θ - c) with θ the concatenation of both parameters (shapes (3,) and (2, 2)),
everything has a closed form: the adapted θ' = θ - α A (θ - c), the second-order meta-gradient
(I - α A) B (θ' - d) and the first-order one B (θ' - d), computed here with matrix algebra (no
autograd). A non-quadratic task is checked against torch.autograd run here on the same probe.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("meta_learning")

SHAPES = [(3,), (2, 2)]
DIM = 7


def spd(seed):
    M = randn(DIM, DIM, seed=seed)
    return M.T @ M / DIM + 0.5 * torch.eye(DIM, dtype=torch.float64)


def make_tasks(n_tasks, seed):
    return [(spd(seed + 10 * i), randn(DIM, seed=seed + 10 * i + 1), spd(seed + 10 * i + 2), randn(DIM, seed=seed + 10 * i + 3))
            for i in range(n_tasks)]


def make_params(seed):
    return [randn(*s, seed=seed + i) for i, s in enumerate(SHAPES)]


def flat(params):
    return torch.cat([p.reshape(-1) for p in params])


def unflat(theta):
    return [theta[:3].reshape(3), theta[3:].reshape(2, 2)]


def analytic_meta_grad(params, tasks, lr, first_order=False, reduce="mean"):
    theta, eye = flat(params), torch.eye(DIM, dtype=torch.float64)
    grads = []
    for A, c, B, d in tasks:
        adapted = theta - lr * A @ (theta - c)
        g = B @ (adapted - d)
        grads.append(g if first_order else (eye - lr * A) @ g)
    total = sum(grads)
    return unflat(total / len(tasks) if reduce == "mean" else total)


def _adapt(m, params, task, lr, create_graph, weights):
    ps = [p.clone().requires_grad_() for p in params]
    before = [p.detach().clone() for p in ps]
    A, c, uses = task["A"], task["c"], task["uses"]

    def loss(qs):
        theta = torch.cat([q.reshape(-1) for q in qs[:uses]])
        r = theta - c[: theta.numel()]
        return 0.5 * r @ A[: theta.numel(), : theta.numel()] @ r

    adapted = m.maml_adapt(loss, ps, lr, create_graph=create_graph)
    out = {"adapted": [a.detach().clone() for a in adapted]}
    out["params changed"] = any(not torch.equal(p.detach(), q) for p, q in zip(ps, before))
    out[".grad written"] = any(p.grad is not None for p in ps)
    s = sum((a * w).sum() for a, w in zip(adapted, weights))
    if not s.requires_grad:
        out["d/dparams"] = "the adapted parameters do not depend on params through autograd"
    else:
        out["d/dparams"] = list(torch.autograd.grad(s, ps, allow_unused=True))
    return out


def _meta(m, params, tasks_data, lr, kwargs):
    ps = [p.clone().requires_grad_() for p in params]
    before = [p.detach().clone() for p in ps]

    def quad(H, c):
        def loss(qs):
            r = torch.cat([q.reshape(-1) for q in qs]) - c
            return 0.5 * r @ H @ r
        return loss

    def curved(H, c):
        def loss(qs):
            theta = torch.cat([q.reshape(-1) for q in qs])
            return torch.tanh(H @ theta - c).pow(2).sum() + 0.1 * theta.pow(4).sum()
        return loss

    tasks = []
    for kind, A, c, B, d in tasks_data:
        make = quad if kind == "quadratic" else curved
        tasks.append((make(A, c), make(B, d)))
    if m is None:  # the expected value: autograd through one unrolled inner step, per task
        meta = 0
        for train, val in tasks:
            inner = torch.autograd.grad(train(ps), ps, create_graph=True)
            meta = meta + val([p - lr * g for p, g in zip(ps, inner)])
        return list(torch.autograd.grad(meta / len(tasks), ps))
    grads = m.maml_meta_grad(tasks, ps, lr, **kwargs)
    return {
        "grads": [g.detach().clone() for g in grads],
        "params changed": any(not torch.equal(p.detach(), q) for p, q in zip(ps, before)),
        ".grad written": any(p.grad is not None for p in ps),
    }


def quadratic(tasks):
    return [("quadratic", *t) for t in tasks]


def task_dict(A, c, uses=2):
    return {"A": A, "c": c, "uses": uses}


# --- maml_adapt ---------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("The inner step is one SGD step on the task's loss: each parameter minus lr times its gradient.")
@pytest.mark.parametrize("lr, create_graph", [(0.1, True), (0.5, False)], ids=str)
def test_maml_adapt_is_one_sgd_step(student, lr, create_graph):
    params, (A, c, _, _) = make_params(1), make_tasks(1, seed=2)[0]
    got = student.run(_adapt, params, task_dict(A, c), lr, create_graph, make_params(3))
    theta = flat(params)
    want = unflat(theta - lr * A @ (theta - c))
    assert_close(
        got["adapted"], want, what=f"adapted parameters (lr={lr})",
        mistakes={"the inner step moved along the gradient: a descent step subtracts it": unflat(theta + lr * A @ (theta - c))},
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "With create_graph=True the inner gradient stays in the graph, so differentiating the adapted parameters "
    "w.r.t. params gives (I - lr·Hessian); with False it is a constant and the derivative is the identity."
)
@pytest.mark.parametrize("create_graph", [True, False])
def test_maml_adapt_create_graph_controls_the_second_order_term(student, create_graph):
    lr, params, (A, c, _, _), weights = 0.3, make_params(4), make_tasks(1, seed=5)[0], make_params(6)
    got = student.run(_adapt, params, task_dict(A, c), lr, create_graph, weights)
    if isinstance(got["d/dparams"], str):
        fail(got["d/dparams"] + ": build them from params with torch operations, outside torch.no_grad()")
    w = flat(weights)
    second = unflat(w - lr * A @ w)
    if create_graph:
        assert_close(
            got["d/dparams"], second, what="d(adapted)/d(params) with create_graph=True",
            mistakes={"the inner gradient is not part of the graph: pass create_graph to torch.autograd.grad": weights},
        )
    else:
        assert_close(
            got["d/dparams"], weights, what="d(adapted)/d(params) with create_graph=False",
            mistakes={"create_graph=False was ignored: the second-order term is still there": second},
        )


@pytest.mark.points(1)
@pytest.mark.hint("A parameter the loss does not use has no gradient (allow_unused): treat it as zero and return it unchanged.")
def test_maml_adapt_returns_an_unused_parameter_unchanged(student):
    params, (A, c, _, _) = make_params(7), make_tasks(1, seed=8)[0]
    got = student.run(_adapt, params, task_dict(A, c, uses=1), 0.2, True, make_params(9))
    u = params[0]
    want = [u - 0.2 * A[:3, :3] @ (u - c[:3]), params[1]]
    assert_close(got["adapted"], want, what="adapted parameters when the loss uses only the first one")


@pytest.mark.points(1)
@pytest.mark.hint("Adaptation builds new tensors: never update params in place, and use torch.autograd.grad rather than .backward().")
def test_maml_adapt_never_modifies_params(student):
    params, (A, c, _, _) = make_params(10), make_tasks(1, seed=11)[0]
    got = student.run(_adapt, params, task_dict(A, c), 0.2, True, make_params(12))
    if got["params changed"]:
        fail("maml_adapt modified the original parameters in place; return new tensors instead")
    if got[".grad written"]:
        fail("maml_adapt wrote .grad of the original parameters (was .backward() used?)")


# --- maml_meta_grad -----------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.hint(
    "Differentiate the mean validation loss *through* the inner step: the inner gradient must stay in the graph, "
    "which brings in the second-order term (I - lr·Hessian)."
)
@pytest.mark.parametrize("n_tasks", [1, 3])
def test_maml_meta_grad_matches_the_analytic_second_order_value(student, n_tasks):
    lr, params, tasks = 0.2, make_params(20), make_tasks(n_tasks, seed=21)
    got = student.run(_meta, params, quadratic(tasks), lr, {})
    want = analytic_meta_grad(params, tasks, lr)
    first = analytic_meta_grad(params, tasks, lr, first_order=True)
    mistakes = {"matches the first-order approximation: the second-order term (create_graph) is missing": first}
    if n_tasks > 1:
        mistakes["summed over tasks: the meta-loss is the mean over tasks"] = analytic_meta_grad(params, tasks, lr, reduce="sum")
    assert_close(got["grads"], want, what=f"meta-gradient over {n_tasks} quadratic task(s)", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint("First-order MAML treats the inner gradient as a constant: the gradient of each validation loss at its adapted parameters.")
def test_maml_meta_grad_first_order_differs_measurably(student):
    lr, params, tasks = 0.2, make_params(30), make_tasks(2, seed=31)
    first = analytic_meta_grad(params, tasks, lr, first_order=True)
    second = analytic_meta_grad(params, tasks, lr)
    if (flat(first) - flat(second)).abs().max() < 1e-2:
        fail("test error: first- and second-order meta-gradients should differ on these tasks")
    got = student.run(_meta, params, quadratic(tasks), lr, {"first_order": True})
    assert_close(
        got["grads"], first, what="first-order meta-gradient",
        mistakes={"first_order=True was ignored: the second-order term is still there": second},
    )


@pytest.mark.points(2)
@pytest.mark.hint("The meta-gradient is the gradient of the mean over tasks of val_loss(maml_adapt(train_loss, params, lr)).")
def test_maml_meta_grad_matches_autograd_on_non_quadratic_tasks(student):
    lr, params = 0.1, make_params(40)
    tasks = [("curved", randn(DIM, DIM, seed=41 + i, scale=0.5), randn(DIM, seed=51 + i),
              randn(DIM, DIM, seed=61 + i, scale=0.5), randn(DIM, seed=71 + i)) for i in range(3)]
    got = student.run(_meta, params, tasks, lr, {})
    want = _meta(None, params, tasks, lr, {})
    assert_close(got["grads"], want, what="meta-gradient over 3 non-quadratic tasks")


@pytest.mark.points(1)
@pytest.mark.hint("The shared parameters are never modified: adapt into new tensors and return the meta-gradient rather than writing .grad.")
def test_maml_meta_grad_leaves_params_untouched(student):
    lr, params, tasks = 0.2, make_params(50), make_tasks(2, seed=51)
    got = student.run(_meta, params, quadratic(tasks), lr, {})
    if got["params changed"]:
        fail("maml_meta_grad modified the original parameters in place")
    if got[".grad written"]:
        fail("maml_meta_grad wrote .grad of the original parameters (was .backward() used?); return the gradients")
