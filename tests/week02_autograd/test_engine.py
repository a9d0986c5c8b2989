"""Hidden tests of week 2, engine.py: the scalar reverse-mode autodiff engine (class Value).

Values cannot cross the transport, so every probe builds its expressions from m.Value where the
learner's code lives and returns plain floats. The expected numbers come from torch.autograd: the
same probe runs on a stand-in module (TORCH) whose Value(x) is a float64 leaf tensor, and a tensor
answers +, -, *, /, ** and .exp(), .tanh(), .relu() and .backward() exactly as a Value should.
Expressions are written as text ("a * b + a") and built by eval inside the probe, so one probe
serves every expression; random expression DAGs that reuse nodes come from a seeded generator.
"""

from __future__ import annotations

import math
import random
import re
from types import SimpleNamespace

import pytest
import torch

from grader.testing import assert_close, fail, is_close

pytestmark = pytest.mark.exercise("engine")


def torch_value(data):
    """A float64 scalar leaf tensor: torch's twin of Value(data)."""
    return torch.tensor(float(data), dtype=torch.float64, requires_grad=True)


TORCH = SimpleNamespace(Value=torch_value)
"""Stands in for a learner's engine module in the probes, with torch doing the differentiation."""


# --- probes -------------------------------------------------------------------------------------


def _evaluate(m, expr, points):
    results = []
    for a_data, b_data in points:
        a, b = m.Value(a_data), m.Value(b_data)
        out = eval(expr, {"__builtins__": {}}, {"a": a, "b": b})
        out.backward()
        grads = [0.0 if v.grad is None else float(v.grad) for v in (a, b)]
        results.append({"value": float(out.data), "grad_a": grads[0], "grad_b": grads[1]})
    return results


def _numbers_on_the_left(m, exprs, a_data):
    results = {}
    for expr in exprs:
        a = m.Value(a_data)
        try:
            out = eval(expr, {"__builtins__": {}}, {"a": a})
        except TypeError as error:
            results[expr] = f"TypeError: {error}"
            continue
        out.backward()
        results[expr] = {"value": float(out.data), "grad_a": float(a.grad)}
    return results


def _dag(m, spec, mode):
    leaves = [m.Value(v) for v in spec["leaves"]]
    nodes = list(leaves)
    for expr, i, j in spec["ops"]:
        nodes.append(eval(expr, {"__builtins__": {}}, {"a": nodes[i], "b": nodes[j]}))
    out = nodes[-1]

    def grads():
        return [0.0 if leaf.grad is None else float(leaf.grad) for leaf in leaves]

    if mode == "forward":
        return [float(node.data) for node in nodes]
    if mode == "backward":
        out.backward()
        return grads()
    if mode == "twice":
        out.backward()
        first = grads()
        out.zero_grad()
        left = max(abs(float(node.grad)) for node in nodes)
        out.backward()
        return {"first": first, "left_after_zero_grad": left, "second": grads()}
    # mode == "order": is out.topological_order() a topological order of exactly the reachable nodes?
    order = out.topological_order()
    position = {id(node): k for k, node in enumerate(order)}
    reachable, stack = {}, [out]
    while stack:
        node = stack.pop()
        if id(node) not in reachable:
            reachable[id(node)] = node
            stack.extend(node._prev)
    late = [
        (node._op, k) for k, node in enumerate(order) if any(position.get(id(c), len(order)) > k for c in node._prev)
    ]
    return {
        "length": len(order),
        "distinct": len(position),
        "reachable": len(reachable),
        "missing": sum(1 for key in reachable if key not in position),
        "last_is_output": bool(order) and order[-1] is out,
        "before_its_children": late[:1],
    }


def _pr64(m):
    a = m.Value(-1.5)
    b = a + a
    c = b + b
    c.backward()
    return float(a.grad)


def _shared_intermediates(m):
    a, b = m.Value(2.0), m.Value(3.0)
    c = a + b
    d = a * b
    e = c + d
    f = c * d
    y = e + f
    y.backward()
    return {"a": float(a.grad), "b": float(b.grad)}


def _long_chain(m, n, factor):
    x = m.Value(0.5)
    y = x
    for _ in range(n):
        y = y * factor
    try:
        y.backward()
    except RecursionError:
        return "RecursionError"
    return {"value": float(y.data), "grad": float(x.grad)}


# --- random expression DAGs ---------------------------------------------------------------------

UNARY = ["a.tanh()", "a.exp()", "a.relu()", "-a", "a ** 2", "a ** 3", "a ** -1", "a ** 0.5"]
WITH_A_NUMBER = ["2.5 * a", "a * 0.5", "1.5 - a", "a - 0.7", "a + 2", "3 + a", "a / 4", "2 / a"]
BINARY = ["a + b", "a - b", "a * b", "a / b"]


def random_dag(seed: int, n_ops: int = 14) -> dict:
    """A random expression DAG: leaves, then ops [expr, i, j] on earlier nodes, with reuse; the output last."""
    rng = random.Random(seed)
    leaves = [round(rng.uniform(-2, 2), 3) for _ in range(rng.randint(2, 4))]
    values = [torch.tensor(v, dtype=torch.float64) for v in leaves]
    ops = []
    while len(ops) < n_ops:
        kind = rng.random()
        expr = rng.choice(BINARY if kind < 0.45 else UNARY if kind < 0.75 else WITH_A_NUMBER)
        recent = max(0, len(values) - 4)
        i = rng.randrange(recent, len(values)) if rng.random() < 0.7 else rng.randrange(len(values))
        j = i if rng.random() < 0.2 else rng.randrange(len(values))  # i == j: a node used twice by one op
        a, b = values[i], values[j]
        if ("/ b" in expr and abs(b) < 0.3) or ("/ a" in expr or "-1" in expr) and abs(a) < 0.3:
            continue
        if ("0.5" in expr and "** 0.5" in expr and a < 0.1) or ("exp" in expr and a > 2):
            continue
        value = eval(expr, {"__builtins__": {}}, {"a": a, "b": b})
        if not math.isfinite(value) or abs(value) > 30:
            continue
        values.append(value)
        ops.append([expr, i, j])
    used = {k for _, i, j in ops for k in (i, j)}
    for sink in [k for k in range(len(values) - 1) if k not in used]:  # the output depends on every node
        ops.append(["a + b", len(values) - 1, sink])
        values.append(values[-1] + values[sink])
    return {"leaves": leaves, "ops": ops}


DAGS = [random_dag(seed) for seed in range(50)]


def describe(spec: dict) -> str:
    """The DAG as one line of code, for failure messages."""
    names = [f"x{k}" for k in range(len(spec["leaves"]))]
    lines = []
    for k, (expr, i, j) in enumerate(spec["ops"]):
        name = f"n{k}"
        operands = {"a": names[i], "b": names[j]}
        lines.append(f"{name} = " + re.sub(r"\b[ab]\b", lambda found, operands=operands: operands[found[0]], expr))
        names.append(name)
    leaves = ", ".join(f"x{k} = Value({v})" for k, v in enumerate(spec["leaves"]))
    return f"{leaves}; " + "; ".join(lines)


# --- each operation -----------------------------------------------------------------------------

OPERATIONS = {
    "add": (["a + b", "a + 2.5"], [(1.5, -2.0), (-0.25, 0.75)], {}),
    "sub_and_neg": (["a - b", "a - 2.5", "-a"], [(1.5, -2.0), (-0.25, 0.75)], {}),
    "mul": (["a * b", "a * 3"], [(1.5, -2.0), (-0.25, 0.75)], {}),
    "truediv": (["a / b", "a / 4"], [(1.5, -2.0), (-0.25, 0.75)], {}),
    "pow": (
        ["a ** 2", "a ** 3", "a ** -1", "a ** 0.5", "a ** 1.5"],
        [(1.5, 0.0), (0.3, 0.0)],
        {"the factor n is missing: d(a ** n)/da = n·a^(n-1)": lambda a, n: a ** (n - 1)},
    ),
    "exp": (
        ["a.exp()"],
        [(-2.0, 0.0), (0.5, 0.0), (3.0, 0.0)],
        {"exp'(a) written as a; it is exp(a) itself, the output's value": lambda a, n: a},
    ),
    "tanh": (
        ["a.tanh()"],
        [(-2.0, 0.0), (-0.3, 0.0), (0.7, 0.0), (1.5, 0.0)],
        {"tanh'(a) written as 1 - tanh(a); it is 1 - tanh(a)²": lambda a, n: 1 - math.tanh(a)},
    ),
    "relu": (["a.relu()"], [(-1.5, 0.0), (2.0, 0.0), (0.5, 0.0)], {}),
}


@pytest.mark.points(1)
@pytest.mark.hint(
    "Each operation needs the value of its output and, in _backward, the local derivative of the output with "
    "respect to each input, multiplied by out.grad and added to that input's grad."
)
@pytest.mark.parametrize("name", list(OPERATIONS))
def test_each_operation_matches_torch(student, name):
    exprs, points, mistakes = OPERATIONS[name]
    for expr in exprs:
        got, want = student.run(_evaluate, expr, points), _evaluate(TORCH, expr, points)
        for (a, b), g, w in zip(points, got, want, strict=True):
            at = f"a={a:g}" + (f", b={b:g}" if "b" in expr else "")
            assert_close(g["value"], w["value"], what=f"{expr} at {at}")
            exponent = float(expr.split("**")[1]) if "**" in expr else None
            named = {message: wrong(a, exponent) for message, wrong in mistakes.items()}
            assert_close(g["grad_a"], w["grad_a"], what=f"d({expr})/da at {at}", mistakes=named)
            assert_close(g["grad_b"], w["grad_b"], what=f"d({expr})/db at {at}")


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "When the number is on the left (2 * x), Python first asks the number, which does not know Values, then "
    "calls the Value's reflected method. Look up Python's reflected operators (__radd__ and friends)."
)
def test_numbers_on_either_side_of_a_value(student):
    exprs = ["2 * a", "a * 2", "1 - a", "a - 1", "1 + a", "a + 1", "3 / a", "a / 3"]
    got = student.run(_numbers_on_the_left, exprs, 1.25)
    want = _numbers_on_the_left(TORCH, exprs, 1.25)
    swapped = {"1 - a": ["a - 1"], "3 / a": ["a / 3"]}  # a reflected method that forgot the number is on the left
    for expr in exprs:
        if isinstance(got[expr], str):
            fail(f"{expr} raised {got[expr]}")
        mistakes = {
            f"{expr} computed as {other}: the number is on the left": want[other] for other in swapped.get(expr, [])
        }
        assert_close(got[expr], want[expr], what=expr, mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint("At exactly 0 relu has no derivative; pick the subgradient torch uses so that both agree.")
def test_relu_gradient_at_zero_is_zero_like_torch(student):
    points = [(0.0, 0.0)]
    # each expression with its gradient at a = 0 if relu'(0) were 1
    for expr, with_relu_prime_1 in (("a.relu()", 1.0), ("(a * 3).relu()", 3.0), ("(a - b).relu()", 1.0)):
        got, want = student.run(_evaluate, expr, points)[0], _evaluate(TORCH, expr, points)[0]
        assert_close(got["value"], want["value"], what=f"{expr} at a=0")
        assert_close(
            got["grad_a"],
            want["grad_a"],
            what=f"d({expr})/da at a=0",
            mistakes={"relu'(0) = 1, torch uses 0: the gradient at 0 differs from torch": with_relu_prime_1},
        )


# --- shared nodes and the order of the backward pass --------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "A node used in two places receives gradient from both: each _backward must add its share to "
    "the input's grad, never overwrite what is already there."
)
def test_gradient_accumulates_for_a_value_used_twice(student):
    points = [(1.5, -0.5), (-2.0, 0.75)]
    for expr in ("a * a", "a + a", "a * b + a", "(a * b) * (a + b)", "a.tanh() * a"):
        got, want = student.run(_evaluate, expr, points), _evaluate(TORCH, expr, points)
        for (a, b), g, w in zip(points, got, want, strict=True):
            if not is_close(g["grad_a"], w["grad_a"]) and abs(g["grad_a"]) < abs(w["grad_a"]):
                fail(
                    f"d({expr})/da = {g['grad_a']:.6g} at a={a:g}, b={b:g}, expected {w['grad_a']:.6g}: "
                    "the gradient of a node used twice is too small"
                )
            assert_close(g["grad_a"], w["grad_a"], what=f"d({expr})/da at a={a:g}, b={b:g}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Process a node only after all of its consumers have added their share to its grad, and process each "
    "node once: that is what a reverse topological order guarantees."
)
def test_backward_on_b_is_a_plus_a_c_is_b_plus_b_gives_4(student):
    # micrograd PR #64: c = 4a, so dc/da = 4.
    got, want = student.run(_pr64), _pr64(TORCH)
    if not is_close(got, want):
        fail(f"dc/da = {got:g}, expected {want:g} for b = a + a; c = b + b")


@pytest.mark.points(2)
@pytest.mark.hint(
    "c and d each feed two later nodes. If a node passes its grad on before every consumer has added to it, "
    "its inputs get a partial (or doubled) share: visit the nodes in reverse topological order, each once."
)
def test_backward_waits_for_every_consumer_of_a_shared_node(student):
    # micrograd issue #68: y = (c + d) + c·d with c = a + b and d = a·b, both used twice.
    got, want = student.run(_shared_intermediates), _shared_intermediates(TORCH)
    # A gradient that is overwritten instead of accumulated also breaks this DAG: name that cause first.
    points = [(1.5, -0.5)]
    for expr in ("a * a", "a + a", "a * b + a"):
        g, w = student.run(_evaluate, expr, points)[0], _evaluate(TORCH, expr, points)[0]
        if not is_close(g["grad_a"], w["grad_a"]) and abs(g["grad_a"]) < abs(w["grad_a"]):
            fail(
                f"d({expr})/da = {g['grad_a']:.6g}, expected {w['grad_a']:.6g}: a gradient is overwritten where it "
                "should be added to (see test_gradient_accumulates_for_a_value_used_twice), before any question of order"
            )
    for name in ("a", "b"):
        if not is_close(got[name], want[name]):
            fail(
                f"dy/d{name} = {got[name]:g}, expected {want[name]:g}: a shared intermediate node passed its "
                "gradient on before all of its consumers had added theirs"
            )


@pytest.mark.points(2)
@pytest.mark.timeout(10)
@pytest.mark.hint(
    "Python stops at about 1,000 nested calls. Build the topological order with a loop and a list used as a "
    "stack instead of a recursive helper."
)
def test_backward_through_a_chain_of_5000_operations(student):
    got = student.run(_long_chain, 5000, 1.0001)
    if got == "RecursionError":
        fail("RecursionError on a chain of 5,000 operations: backward() must not recurse once per node")
    want = _long_chain(TORCH, 5000, 1.0001)
    assert_close(got, want, rtol=1e-9, what="chain of 5,000 products")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Every node once, each after all of its children (_prev), the output last: a depth-first search that "
    "appends a node when it leaves it, and skips nodes it has seen."
)
def test_topological_order_lists_every_node_once_after_its_children(student):
    for k, spec in enumerate(DAGS[:10] + [{"leaves": [1.0], "ops": [["a + a", 0, 0], ["a + a", 1, 1]]}]):
        got = student.run(_dag, spec, "order")
        if got["distinct"] != got["length"]:
            dag_fail(k, spec, f"{got['length'] - got['distinct']} node(s) listed more than once")
        if got["missing"]:
            dag_fail(k, spec, f"{got['missing']} of the {got['reachable']} nodes the output depends on are not listed")
        if got["length"] != got["reachable"]:
            dag_fail(k, spec, f"{got['length']} nodes listed, the output depends on {got['reachable']}")
        if not got["last_is_output"]:
            dag_fail(k, spec, "the last node of the order is not the output itself")
        if got["before_its_children"]:
            op, position = got["before_its_children"][0]
            dag_fail(k, spec, f"the node at position {position} (made by {op!r}) comes before one of its children")


# --- random expression DAGs ---------------------------------------------------------------------


def dag_fail(k: int, spec: dict, problem: str) -> None:
    """Fail with the problem first and the DAG last (a long DAG is cut from the one-line message)."""
    __tracebackhide__ = True
    fail(f"DAG {k}: {problem}; the DAG: {describe(spec)}")


def dag_assert_close(k: int, spec: dict, got, want, what: str, mistakes=None) -> None:
    """assert_close whose failure message ends with the DAG."""
    __tracebackhide__ = True
    try:
        assert_close(got, want, what=what, mistakes=mistakes)
    except pytest.fail.Exception as failure:
        dag_fail(k, spec, failure.msg)


@pytest.mark.points(2)
@pytest.mark.hint("Every operation computes its output's value from its inputs' .data, as a Python float.")
def test_random_expression_dags_forward_values_match_torch(student):
    for k, spec in enumerate(DAGS):
        got, want = student.run(_dag, spec, "forward"), _dag(TORCH, spec, "forward")
        dag_assert_close(k, spec, got, want, "node values")


@pytest.mark.points(3)
@pytest.mark.hint(
    "backward() starts from d(out)/d(out) = 1 and visits every node once, outputs before inputs; nodes are "
    "reused, so gradients must add up. A leaf the output does not depend on keeps grad 0."
)
def test_random_expression_dags_leaf_gradients_match_torch(student):
    for k, spec in enumerate(DAGS):
        got, want = student.run(_dag, spec, "backward"), _dag(TORCH, spec, "backward")
        never_seeded = {"every gradient is 0: backward() must start from d(out)/d(out) = 1": [0.0] * len(want)}
        dag_assert_close(k, spec, got, want, "leaf gradients", mistakes=never_seeded if any(want) else None)


@pytest.mark.points(2)
@pytest.mark.hint(
    "Gradients accumulate, so a second backward() needs every grad reset first, including those of the "
    "intermediate nodes: they are sums too, and their old values would be passed on again."
)
def test_zero_grad_then_backward_again_gives_the_same_gradients(student):
    for k, spec in enumerate(DAGS[:10]):
        got = student.run(_dag, spec, "twice")
        dag_assert_close(k, spec, got["first"], _dag(TORCH, spec, "backward"), "leaf gradients")
        if got["left_after_zero_grad"] != 0:
            dag_fail(k, spec, f"a grad of {got['left_after_zero_grad']:.3g} is left after zero_grad()")
        if not is_close(got["second"], got["first"]):
            dag_fail(
                k,
                spec,
                "zero_grad() then backward() gives other gradients than the first backward(): "
                "an intermediate node kept its old gradient",
            )
