"""Hidden tests of week 2, jacobians.py: Jacobians and Hessians by reverse mode, and critical points.

A callable cannot cross the transport, so each probe defines the functions it differentiates.
The expected values come from torch.autograd.functional (jacobian, hessian) by running the same
probe on a stand-in module (TORCH). The expected kind of a critical point comes from the
eigenvalues of torch's Hessian (torch.linalg.eigvalsh), the definition of the second-derivative test.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch.autograd.functional import hessian as torch_hessian
from torch.autograd.functional import jacobian as torch_jacobian

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("jacobians")

TOL = 1e-8  # eigenvalues within TOL of 0 count as zero, as classify_critical_point's default


def kind_from_eigenvalues(f, x):
    """The second-derivative test on torch's Hessian: the signs of all of its eigenvalues."""
    n = x.numel()
    eigenvalues = torch.linalg.eigvalsh(torch_hessian(f, x).reshape(n, n))
    signs = set(torch.where(eigenvalues.abs() <= TOL, 0.0, eigenvalues.sign()).tolist())
    if signs == {1.0}:
        return "minimum"
    if signs == {-1.0}:
        return "maximum"
    return "saddle" if {1.0, -1.0} <= signs else "degenerate"


TORCH = SimpleNamespace(jacobian=torch_jacobian, hessian=torch_hessian, classify_critical_point=kind_from_eigenvalues)
"""Stands in for a learner's module in the probes, with torch.autograd.functional doing the work."""


def _jacobian(m, name, x):
    functions = {
        "vector_3_to_5": lambda t: torch.stack([t[0] * t[1], t[1].sin(), t.exp().sum(), t[2] ** 3, t.norm()]),
        "scalar_of_4": lambda t: (t**2).sum().sqrt() + t.prod(),
        "matrix_2x3_to_4": lambda t: (t.tanh() @ t.T).reshape(-1),
    }
    before = x.clone()
    jac = m.jacobian(functions[name], x)
    return {"jacobian": jac, "x_unchanged": bool(torch.equal(x, before))}


def _hessian(m, name, x):
    functions = {
        "cubic_of_3": lambda t: (t**3).sum() + t[0] * t[1] * t[2] + (t[0] - t[2]).exp(),
        "matrix_2x2": lambda t: (t @ t).trace() + (t.sin() * t.cumsum(0)).sum(),
    }
    return m.hessian(functions[name], x)


def _classify(m, name, x):
    functions = {
        "x² - y²": lambda t: t[0] ** 2 - t[1] ** 2,
        "Rosenbrock": lambda t: (1 - t[0]) ** 2 + 100 * (t[1] - t[0] ** 2) ** 2,
        "-(x² + y² + z²) + xy": lambda t: -(t**2).sum() + t[0] * t[1],
        "-x² - y² + z²": lambda t: -(t[0] ** 2) - t[1] ** 2 + t[2] ** 2,
        "x⁴": lambda t: t[0] ** 4,
        "x² + y⁴": lambda t: t[0] ** 2 + t[1] ** 4,
        "-x² - y⁴": lambda t: -(t[0] ** 2) - t[1] ** 4,
    }
    return m.classify_critical_point(functions[name], x)


def point(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# --- Jacobians ----------------------------------------------------------------------------------

JACOBIAN_CASES = [("vector_3_to_5", (3,)), ("scalar_of_4", (4,)), ("matrix_2x3_to_4", (2, 3))]


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "One backward pass per output element gives one row: the gradient of that element with respect to x. "
    "The result has f(x)'s shape followed by x's shape (a scalar f gives just x's shape)."
)
@pytest.mark.parametrize(("name", "shape"), JACOBIAN_CASES, ids=[name for name, _ in JACOBIAN_CASES])
def test_jacobian_matches_torch_autograd_functional(student, name, shape):
    x = randn(*shape, seed=len(name))
    got = student.run(_jacobian, name, x)
    want = _jacobian(TORCH, name, x)["jacobian"]
    jac = got["jacobian"]
    if isinstance(jac, torch.Tensor) and jac.dim() == want.dim() and jac.dim() > 0:
        out_dims = want.dim() - x.dim()
        transposed = tuple(want.shape[out_dims:]) + tuple(want.shape[:out_dims])
        if tuple(jac.shape) != tuple(want.shape) and tuple(jac.shape) == transposed:
            fail(
                f"Jacobian of shape {tuple(jac.shape)}, expected {tuple(want.shape)}: the input dims come first; "
                "torch's layout is f(x).shape + x.shape"
            )
    assert_close(jac, want, what="Jacobian")
    if not got["x_unchanged"]:
        fail("x changed during the call: differentiate a copy of x, not the caller's tensor")


# --- Hessians -----------------------------------------------------------------------------------

HESSIAN_CASES = [("cubic_of_3", (3,)), ("matrix_2x2", (2, 2))]


@pytest.mark.points(2)
@pytest.mark.hint(
    "The Hessian is the Jacobian of the gradient; the gradient must be computed with create_graph=True so "
    "that autograd can differentiate it again. The result has x's shape twice."
)
@pytest.mark.parametrize(("name", "shape"), HESSIAN_CASES, ids=[name for name, _ in HESSIAN_CASES])
def test_hessian_matches_torch_autograd_functional(student, name, shape):
    x = randn(*shape, seed=5) * 0.5
    want = _hessian(TORCH, name, x)
    assert_close(
        student.run(_hessian, name, x),
        want,
        what="Hessian",
        mistakes={
            "the Hessian is all zeros: the gradient was not built to be differentiated again": torch.zeros_like(want)
        },
    )


# --- critical points ----------------------------------------------------------------------------

KIND_CASES = [
    ("x² - y²", point(0.0, 0.0)),
    ("Rosenbrock", point(1.0, 1.0)),
    ("-(x² + y² + z²) + xy", point(0.0, 0.0, 0.0)),
]


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "All eigenvalues of the Hessian positive: a minimum; all negative: a maximum; some of each sign: a saddle."
)
@pytest.mark.parametrize(("name", "x"), KIND_CASES, ids=[name for name, _ in KIND_CASES])
def test_classify_critical_point_by_the_hessian_eigenvalues(student, name, x):
    got, want = student.run(_classify, name, x), _classify(TORCH, name, x)
    if got != want:
        fail(f"{name} at {x.tolist()} is a {want}, got {got!r}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "The determinant is the product of the eigenvalues: in 3 dimensions two negative ones and a positive one "
    "give a positive determinant. Look at the sign of every eigenvalue."
)
def test_classify_critical_point_does_not_trust_the_determinant_alone(student):
    x = point(0.0, 0.0, 0.0)
    got, want = student.run(_classify, "-x² - y² + z²", x), _classify(TORCH, "-x² - y² + z²", x)
    if got != want:
        fail(
            f"-x² - y² + z² at 0 is a {want} (eigenvalues -2, -2, 2, determinant 8 > 0), got {got!r}: "
            "the sign of the determinant alone does not decide in 3-D"
        )


@pytest.mark.points(2)
@pytest.mark.hint(
    "A zero eigenvalue means the second derivatives say nothing along its direction: x⁴ and -x⁴ both have a "
    "zero Hessian at 0, and one is a minimum, the other a maximum."
)
def test_classify_critical_point_calls_a_zero_eigenvalue_degenerate(student):
    for name, x in (("x⁴", point(0.0)), ("x² + y⁴", point(0.0, 0.0)), ("-x² - y⁴", point(0.0, 0.0))):
        got, want = student.run(_classify, name, x), _classify(TORCH, name, x)
        if got != want:
            fail(f"{name} at 0 has a zero Hessian eigenvalue: the test is inconclusive ({want!r}), got {got!r}")


# --- outputs that do not depend on x, and eigenvalues that are zero only up to rounding ---------


def _independent_outputs(m, x):
    functions = {
        "constant": lambda t: torch.ones(3, dtype=t.dtype),  # does not require grad at all
        "linear (Hessian)": lambda t: (torch.tensor([0.5, -2.0, 3.0], dtype=t.dtype) * t).sum(),
    }
    out = {}
    for name, f in functions.items():
        try:
            out[name] = (m.hessian if name.endswith("(Hessian)") else m.jacobian)(f, x)
        except NotImplementedError:
            raise
        except Exception as error:  # a crash is the mistake this test names
            out[name] = f"{type(error).__name__}: {error}".splitlines()[0][:160]
    return out


@pytest.mark.points(2)
@pytest.mark.hint(
    "An output that does not depend on x has a gradient of zero, although autograd may have nothing to "
    "differentiate (the output does not require grad, or the gradient comes back as None): build a zero row then."
)
def test_jacobian_and_hessian_give_zeros_where_the_output_does_not_depend_on_x(student):
    x = randn(3, seed=31)
    got, want = student.run(_independent_outputs, x), _independent_outputs(TORCH, x)
    for name in want:
        if isinstance(got[name], str):
            what = "Hessian" if name.endswith("(Hessian)") else "Jacobian"
            fail(f"{what} of a {name.removesuffix(' (Hessian)')} function raised {got[name]}: expected zeros where the output does not depend on x")
        assert_close(got[name], want[name], what=f"{name} function")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Rounding leaves eigenvalues like 1e-16 where the exact value is 0: compare with the tolerance `tol`, "
    "never with exactly 0."
)
def test_classify_critical_point_treats_rounding_sized_eigenvalues_as_zero(student):
    # (0.3·x + 0.6·y + 0.9·z)² has a rank-one Hessian: two eigenvalues are exactly 0, and in float64
    # eigvalsh returns them as tiny nonzero numbers.
    def f(t):
        return (torch.tensor([0.3, 0.6, 0.9], dtype=t.dtype) @ t) ** 2

    x = point(0.0, 0.0, 0.0)
    H = torch_hessian(f, x)
    eigenvalues = torch.linalg.eigvalsh((H + H.T) / 2)
    tiny = (eigenvalues.abs() < 1e-12) & (eigenvalues != 0)
    assert tiny.sum() >= 1 and (eigenvalues > 1).sum() == 1, "test design: rounding-sized eigenvalues"
    got = student.run(_classify_rank_one, x)
    if got != "degenerate":
        fail(
            f"(0.3x + 0.6y + 0.9z)² at 0 is 'degenerate' (eigenvalues {', '.join(f'{v:.2g}' for v in eigenvalues.tolist())}: "
            f"two are 0 up to rounding), got {got!r}"
        )


def _classify_rank_one(m, x):
    return m.classify_critical_point(lambda t: (torch.tensor([0.3, 0.6, 0.9], dtype=t.dtype) @ t) ** 2, x)
