"""Hidden tests of week 3, least_squares.py: ordinary least squares and ridge regression in closed form.

Expected values come from torch.linalg.lstsq (the SVD driver "gelsd", which is reliable on
rank-deficient designs) applied at test time to the design with a column of ones appended, or to
the ridge problem written as an augmented least-squares system. Ill-conditioned and
rank-deficient designs are judged by the residual, which every correct solver minimizes, and not
by the weights, which are not unique there.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import assert_close, fail, is_close, randn

pytestmark = pytest.mark.exercise("least_squares")

LAM = 2.5


def regression_data(n: int, d: int, k: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs away from the origin (so the intercept matters) and noisy targets of shape (n,) or (n, k)."""
    X = randn(n, d, seed=seed) + 3.0
    w = randn(d, *(() if k is None else (k,)), seed=seed + 1)
    noise = randn(n, *(() if k is None else (k,)), seed=seed + 2, scale=0.1)
    return X, X @ w + 5.0 + noise


def with_ones(X: torch.Tensor) -> torch.Tensor:
    return torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], 1)


def solve(A: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """torch.linalg.lstsq's solution of min ‖A s − y‖² for y of shape (n,) or (n, k)."""
    return torch.linalg.lstsq(A, y.reshape(len(y), -1), driver="gelsd").solution.reshape(A.shape[1], *y.shape[1:])


def ols(X: torch.Tensor, y: torch.Tensor, fit_intercept: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(w, b) by torch.linalg.lstsq on [X, 1] (or on X, with b = 0)."""
    if not fit_intercept:
        return solve(X, y), torch.zeros(y.shape[1:], dtype=y.dtype)
    s = solve(with_ones(X), y)
    return s[:-1], s[-1]


def ridge_by_augmented_system(
    X: torch.Tensor, y: torch.Tensor, lam: float, fit_intercept: bool = True, penalize_intercept: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """min ‖X w + b − y‖² + lam·‖w‖² as one least-squares problem: [X, 1; sqrt(lam)·I, 0] (w, b) ≈ (y, 0)."""
    d = X.shape[1]
    A = with_ones(X) if fit_intercept else X
    penalty = torch.eye(A.shape[1], dtype=X.dtype) * lam**0.5
    if fit_intercept and not penalize_intercept:
        penalty = penalty[:d]
    rhs = torch.cat([y, torch.zeros(len(penalty), *y.shape[1:], dtype=y.dtype)])
    s = solve(torch.cat([A, penalty]), rhs)
    return (s[:-1], s[-1]) if fit_intercept else (s, torch.zeros(y.shape[1:], dtype=y.dtype))


def residual_norm(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> float:
    return float((X @ w + b - y).norm())


def returned_pair(got: object, name: str, when: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """The (w, b) a learner returned, or a one-line failure saying what came back instead."""
    if not isinstance(got, (tuple, list)) or len(got) != 2 or not all(isinstance(t, torch.Tensor) for t in got):
        fail(f"{name}() must return a tuple (w, b) of two tensors, got {type(got).__name__}")
    w, b = got
    if not (torch.isfinite(w).all() and torch.isfinite(b).all()):
        fail(f"{name}() returned inf or NaN weights{when}")
    return w, b


def _result_or_error(m, name, *args):
    try:
        return {"error": None, "result": getattr(m, name)(*args)}
    except NotImplementedError:
        raise
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}".splitlines()[0][:160], "result": None}


# --- least squares --------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Center X's columns and y, solve for w on the centered data, then b = ȳ − x̄·w; "
    "for y of shape (N, k), w is (D, k) and b is (k,)."
)
@pytest.mark.parametrize("k", [None, 3], ids=["y (N,)", "y (N, 3)"])
def test_least_squares_matches_torch_lstsq(student, k):
    X, y = regression_data(40, 4, k, seed=1)
    w, b = ols(X, y)
    w_no_b = solve(X, y)
    got = student.least_squares(X, y)
    assert_close(
        got,
        (w, b),
        what="(w, b)",
        mistakes={
            "no intercept was fitted (b = 0): with fit_intercept=True, fit b too": (
                w_no_b,
                torch.zeros_like(b),
            ),
            "b = mean of y: the intercept must also account for the mean of X (b = ȳ − x̄·w)": (w, y.mean(0)),
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint("With fit_intercept=False the fit goes through the origin: do not center, and b is 0.")
def test_least_squares_without_intercept_goes_through_the_origin(student):
    X, y = regression_data(30, 3, None, seed=4)
    w, b = ols(X, y, fit_intercept=False)
    assert_close(
        student.least_squares(X, y, False),
        (w, b),
        what="(w, b) with fit_intercept=False",
        mistakes={"fit_intercept=False was ignored: an intercept was fitted": ols(X, y)},
    )


@pytest.mark.points(3)
@pytest.mark.hint(
    "Forming XᵀX squares the condition number of X (here about 1e9, so XᵀX is singular to machine precision). "
    "Solve the least-squares problem on X itself: QR or torch.linalg.lstsq, never the normal equations."
)
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["x..x^12 with intercept", "1..x^12 no intercept"])
def test_least_squares_is_stable_on_a_degree_12_vandermonde_design(student, fit_intercept):
    x = torch.linspace(0, 1, 100, dtype=torch.float64)
    y = torch.sin(3 * x) + randn(100, seed=5, scale=1e-4)
    full = torch.vander(x, 13, increasing=True)  # columns 1, x, ..., x^12; cond ≈ 7e8
    best = residual_norm(full, y, solve(full, y), torch.zeros((), dtype=y.dtype))
    X = full[:, 1:] if fit_intercept else full
    got = student.run(_result_or_error, "least_squares", X, y, fit_intercept)
    if got["error"]:
        fail(f"least_squares raised an error on an ill-conditioned (but full-rank) design: {got['error']}")
    w, b = returned_pair(got["result"], "least_squares")
    # Shapes first, so that a broadcast (N, N) residual is never taken for lost digits.
    if tuple(w.shape) != (X.shape[1],) or b.dim() != 0:
        fail(
            f"w of shape ({X.shape[1]},) and a 0-d b expected for y of shape (100,), got {tuple(w.shape)} and "
            f"{tuple(b.shape)}: X @ w + b would broadcast instead of giving one prediction per example"
        )
    # Then a well-conditioned design: a solver that is wrong there has a problem other than conditioning.
    X_easy, y_easy = regression_data(40, 4, None, seed=1)
    easy = student.least_squares(X_easy, y_easy, fit_intercept)
    if not is_close(easy, ols(X_easy, y_easy, fit_intercept), atol=1e-8, rtol=1e-6):
        fail(
            "least_squares is already wrong on a well-conditioned design (see test_least_squares_matches_torch_lstsq), "
            "so conditioning is not what goes wrong here"
        )
    excess = residual_norm(X, y, w, b) / best - 1
    if excess > 1:
        fail(
            "residual more than twice torch.linalg.lstsq's on a degree-12 Vandermonde design: "
            "inverting XᵀX loses every digit (its condition number is about 1e18)"
        )
    if excess > 1e-8:
        fail(
            "residual above torch.linalg.lstsq's by more than 1e-8 (relative) on a degree-12 Vandermonde design: "
            "the normal equations XᵀX w = Xᵀy square the condition number"
        )


@pytest.mark.points(2)
@pytest.mark.hint(
    "With a duplicated column XᵀX is singular, yet the least-squares problem still has (many) solutions with the "
    "same minimal residual; an SVD-based solver (torch.linalg.lstsq with driver='gelsd') handles dependent columns."
)
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["with intercept", "no intercept"])
def test_least_squares_reaches_the_minimal_residual_when_a_column_is_duplicated(student, fit_intercept):
    X, y = regression_data(30, 4, None, seed=6)
    X = torch.cat([X, X[:, 1:2]], 1)
    best = residual_norm(X, y, *ols(X, y, fit_intercept))
    got = student.run(_result_or_error, "least_squares", X, y, fit_intercept)
    if got["error"]:
        fail(f"least_squares raised an error when X has a duplicated column (the minimum still exists): {got['error']}")
    w, b = returned_pair(
        got["result"],
        "least_squares",
        " when X has a duplicated column: the solver assumed independent columns (XᵀX, or R of a plain QR, is singular)",
    )
    if tuple(w.shape) != (5,) or b.dim() != 0:
        fail(f"w of shape (5,) and a 0-d b expected, got {tuple(w.shape)} and {tuple(b.shape)}")
    X_easy, y_easy = regression_data(40, 4, None, seed=1)
    if not is_close(student.least_squares(X_easy, y_easy, fit_intercept), ols(X_easy, y_easy, fit_intercept), atol=1e-8, rtol=1e-6):
        fail(
            "least_squares is already wrong on a design with independent columns (see test_least_squares_matches_torch_lstsq), "
            "so the duplicated column is not what goes wrong here"
        )
    if residual_norm(X, y, w, b) > best * (1 + 1e-8):
        fail("residual above the minimum when X has a duplicated column: the solver assumed independent columns")


# --- ridge ----------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "The objective is ‖Xw + b − y‖² + λ‖w‖²: a sum over the examples, no factor ½, and no penalty on b. "
    "It is a least-squares problem with D extra rows sqrt(λ)·I (under the centered X)."
)
@pytest.mark.parametrize(
    "k, fit_intercept", [(None, True), (3, True), (None, False)], ids=["y (N,)", "y (N, 3)", "no intercept"]
)
def test_ridge_matches_the_augmented_least_squares_system(student, k, fit_intercept):
    X, y = regression_data(25, 4, k, seed=7)
    n = len(X)
    want = ridge_by_augmented_system(X, y, LAM, fit_intercept)
    mistakes = {
        "matches the penalty (λ/2)·‖w‖²: this objective has λ·‖w‖², no factor ½": ridge_by_augmented_system(
            X, y, LAM / 2, fit_intercept
        ),
        "matches the penalty 2λ·‖w‖²: this objective has λ·‖w‖²": ridge_by_augmented_system(
            X, y, 2 * LAM, fit_intercept
        ),
        "matches a mean squared error (1/N)‖Xw + b − y‖² + λ‖w‖²: this objective sums over the examples": (
            ridge_by_augmented_system(X, y, n * LAM, fit_intercept)
        ),
        "λ was ignored: that is plain least squares": ols(X, y, fit_intercept),
    }
    if fit_intercept:
        mistakes["intercept shrinks with λ: b was penalized too"] = ridge_by_augmented_system(
            X, y, LAM, penalize_intercept=True
        )
    got = student.ridge(X, y, LAM, fit_intercept)
    assert_close(got, want, what=f"(w, b) for λ = {LAM}", mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint("With λ = 0 the penalty vanishes and ridge is ordinary least squares.")
def test_ridge_with_lambda_0_is_least_squares(student):
    X, y = regression_data(20, 3, None, seed=10)
    assert_close(student.ridge(X, y, 0.0), ols(X, y), what="(w, b) for λ = 0")


@pytest.mark.points(3)
@pytest.mark.hint(
    "Regularization pulls the weights towards 0, but b only says where the targets sit: which parameters should "
    "the penalty touch? Shifting every target by 100 should move b by exactly 100 and leave w alone."
)
def test_ridge_does_not_penalize_the_intercept(student):
    X, y = regression_data(25, 4, None, seed=11)
    lam = 50.0
    w, b = returned_pair(student.ridge(X, y, lam), "ridge")
    w_up, b_up = returned_pair(student.ridge(X, y + 100, lam), "ridge")
    if not torch.allclose(b_up - b, torch.tensor(100.0, dtype=b.dtype), rtol=0, atol=1e-8) or not torch.allclose(
        w_up, w, rtol=0, atol=1e-8
    ):
        fail("intercept shrinks with λ: shifting every target by 100 must move b by exactly 100 and leave w unchanged")
    assert_close((w, b), ridge_by_augmented_system(X, y, lam), what=f"(w, b) for λ = {lam}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "At the minimum of ‖Xw + b − y‖² + λ‖w‖² the gradient with respect to w and b is 0; derive it and check "
    "that your solution sets both parts to 0 (λ‖w‖² has gradient 2λw)."
)
def test_ridge_objective_has_zero_gradient_at_the_returned_solution(student):
    X, y = regression_data(30, 5, None, seed=12)
    for lam in (0.3, 30.0):
        w, b = returned_pair(student.ridge(X, y, lam), "ridge")
        w, b = w.clone().requires_grad_(), b.clone().requires_grad_()
        objective = ((X @ w + b - y) ** 2).sum() + lam * (w**2).sum()
        grad_w, grad_b = torch.autograd.grad(objective, (w, b))
        scale = float((2 * X.T @ y).abs().max())  # the size of the gradient at w = 0
        if (grad_w.abs().max() > 1e-9 * scale) or (grad_b.abs() > 1e-9 * scale):
            fail(
                f"the gradient of ‖Xw + b − y‖² + λ‖w‖² at your (w, b) for λ = {lam} is not 0: "
                "not the minimizer of this objective"
            )


@pytest.mark.points(1)
@pytest.mark.hint(
    "A larger λ makes large weights costlier: ‖w‖ shrinks as λ grows, towards 0, and b then tends to the mean of y."
)
def test_ridge_shrinks_the_weights_as_lambda_grows(student):
    X, y = regression_data(25, 4, None, seed=13)
    norms = []
    for lam in (0.0, 0.1, 1.0, 10.0, 100.0, 1e4):
        w, _ = returned_pair(student.ridge(X, y, lam), "ridge")
        norms.append(float(w.norm()))
    if any(later > earlier * (1 + 1e-12) for earlier, later in zip(norms[:-1], norms[1:], strict=True)):
        fail(f"‖w‖ does not shrink as λ grows over 0, 0.1, 1, 10, 100, 1e4: {', '.join(f'{v:.4g}' for v in norms)}")
    w, b = returned_pair(student.ridge(X, y, 1e12), "ridge")
    assert_close(w, torch.zeros_like(w), atol=1e-6, what="w for λ = 1e12")
    assert_close(b, y.mean(), atol=1e-6, what="b for λ = 1e12 (the mean of y)")
