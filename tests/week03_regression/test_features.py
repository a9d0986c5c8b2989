"""Hidden tests of week 3, features.py: polynomial features, polynomial fits and choosing the degree.

Features are compared with torch.vander(x, degree + 1, increasing=True), fits with
torch.linalg.lstsq on those features. Degree selection runs on seeded data from a known
polynomial; the test first checks, with torch alone, that the validation error singles out the
true degree by a clear margin, so that a correct learner can never lose on a near-tie.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import assert_close, fail, is_close, randn

pytestmark = pytest.mark.exercise("features")

MAX_DEGREE = 8


def vander(x: torch.Tensor, degree: int) -> torch.Tensor:
    return torch.vander(x, degree + 1, increasing=True)


def lstsq_fit(x: torch.Tensor, y: torch.Tensor, degree: int) -> torch.Tensor:
    return torch.linalg.lstsq(vander(x, degree), y.unsqueeze(1), driver="gelsd").solution.squeeze(1)


def polynomial_data(coefs: list[float], seed: int, n_train: int = 15, n_val: int = 200, noise: float = 0.1):
    """Noisy samples of the polynomial sum_j coefs[j]·x**j at uniform x in [-1, 1]: train and validation sets."""
    g = torch.Generator().manual_seed(seed)
    x_tr = torch.rand(n_train, generator=g, dtype=torch.float64) * 2 - 1
    x_val = torch.rand(n_val, generator=g, dtype=torch.float64) * 2 - 1
    c = torch.tensor(coefs, dtype=torch.float64)
    y_tr = vander(x_tr, len(c) - 1) @ c + noise * torch.randn(n_train, generator=g, dtype=torch.float64)
    y_val = vander(x_val, len(c) - 1) @ c + noise * torch.randn(n_val, generator=g, dtype=torch.float64)
    return x_tr, y_tr, x_val, y_val


def validation_errors(x_tr, y_tr, x_val, y_val, max_degree: int) -> list[float]:
    return [float(((vander(x_val, d) @ lstsq_fit(x_tr, y_tr, d) - y_val) ** 2).mean()) for d in range(max_degree + 1)]


def as_int(got: object) -> int:
    """The learner's degree as an int (a 0-d integer tensor is accepted), or a one-line failure."""
    if isinstance(got, bool) or not isinstance(got, (int, torch.Tensor)):
        fail(f"select_degree() must return an int, got {type(got).__name__}")
    if isinstance(got, torch.Tensor):
        if got.numel() != 1 or got.is_floating_point():
            fail(f"select_degree() must return an int, got a tensor of shape {tuple(got.shape)} and dtype {got.dtype}")
        return int(got)
    return got


# --- polynomial_features ------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Column j holds x**j for j = 0, 1, ..., degree: increasing powers, starting with a column of ones "
    "(torch.vander's default order is the opposite)."
)
@pytest.mark.parametrize("degree", [1, 3, 6])
def test_polynomial_features_match_torch_vander_increasing(student, degree):
    x = randn(9, seed=degree)
    want = vander(x, degree)
    assert_close(
        student.polynomial_features(x, degree),
        want,
        mistakes={
            "columns in decreasing order: column j must be x**j": torch.vander(x, degree + 1),
            "the constant column x**0 is missing: degree d has d + 1 columns": want[:, 1:],
            "one column short: the powers go from 0 up to and including degree": want[:, :-1],
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint(
    "Degree 0 is a single column of ones; x**0 is 1 even where x is 0; the result keeps x's dtype "
    "and works for a single sample."
)
def test_polynomial_features_edge_cases(student):
    cases = {
        "degree 0": (randn(4, seed=10), 0),
        "x with zeros": (torch.tensor([0.0, -1.5, 0.0, 2.0], dtype=torch.float64), 3),
        "a single sample": (torch.tensor([0.7], dtype=torch.float64), 4),
        "float32 input": (randn(5, seed=11, dtype=torch.float32), 2),
    }
    for what, (x, degree) in cases.items():
        got = student.polynomial_features(x, degree)
        want = vander(x, degree)
        if isinstance(got, torch.Tensor) and got.dtype != want.dtype:
            fail(f"{what}: dtype {want.dtype} expected (the dtype of x), got {got.dtype}")
        assert_close(got, want, what=what)


# --- fit_polynomial -------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "Fit by least squares on polynomial_features(x, degree): column 0 already plays the intercept, and "
    "c[j] multiplies x**j (lowest power first)."
)
def test_fit_polynomial_matches_lstsq_on_the_vandermonde_matrix(student):
    x_tr, y_tr, _, _ = polynomial_data([1.0, -2.0, 0.5, 3.0], seed=12, n_train=30)
    for degree in (1, 3, 5):
        want = lstsq_fit(x_tr, y_tr, degree)
        assert_close(
            student.fit_polynomial(x_tr, y_tr, degree),
            want,
            what=f"coefficients of degree {degree}",
            mistakes={"coefficients in decreasing order: c[j] must multiply x**j": want.flip(0)},
        )


@pytest.mark.points(2)
@pytest.mark.hint(
    "A polynomial of degree d is also one of degree d + 1 (with a zero last coefficient), so the best "
    "training fit can only get better as the degree grows."
)
def test_training_error_never_increases_with_the_degree(student):
    x_tr, y_tr, _, _ = polynomial_data([1.0, -2.0, 0.5, 3.0], seed=13, n_train=20)
    errors = []
    for degree in range(MAX_DEGREE + 1):
        coef = student.fit_polynomial(x_tr, y_tr, degree)
        if not isinstance(coef, torch.Tensor) or tuple(coef.shape) != (degree + 1,):
            fail(f"fit_polynomial(x, y, {degree}) must return {degree + 1} coefficients")
        errors.append(float(((vander(x_tr, degree) @ coef - y_tr) ** 2).mean()))
    for degree in range(1, MAX_DEGREE + 1):
        if errors[degree] > errors[degree - 1] * (1 + 1e-9) + 1e-12:
            fail(
                f"training MSE rose from {errors[degree - 1]:.4g} at degree {degree - 1} to {errors[degree]:.4g} "
                f"at degree {degree}: the fit is not the least-squares one"
            )


# --- select_degree --------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "Fit each degree on the training set only and score it on the validation set: the training error always "
    "prefers the largest degree, the validation error shows where the fit starts to follow the noise."
)
@pytest.mark.parametrize(
    "coefs, seed",
    [([1.0, -2.0, 0.5, 3.0], 2), ([0.5, 2.0], 0), ([1.0, -1.0, 2.5], 1)],
    ids=["cubic", "linear", "quadratic"],
)
def test_select_degree_picks_the_true_degree(student, coefs, seed):
    data = polynomial_data(coefs, seed)
    true_degree = len(coefs) - 1
    errors = validation_errors(*data, MAX_DEGREE)
    ranked = sorted(range(MAX_DEGREE + 1), key=lambda d: errors[d])
    assert ranked[0] == true_degree and errors[ranked[1]] > 1.2 * errors[ranked[0]], "test design: no clear winner"
    got = as_int(student.select_degree(*data, MAX_DEGREE))
    if got == true_degree:
        return
    if got == MAX_DEGREE:
        fail(f"chose degree {got}, the largest allowed: the degree was picked by training error, not validation error")
    if abs(got - true_degree) == 1:
        fail(
            f"chose degree {got} on data from a degree-{true_degree} polynomial: off by one "
            "(degrees start at 0, and degree d has d + 1 coefficients)"
        )
    fail(f"chose degree {got} on data from a degree-{true_degree} polynomial, expected {true_degree}")


# --- edge cases the docstrings promise --------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.hint("The features keep x's dtype: build the exponents (or anything you combine with x) in that dtype.")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_polynomial_features_keep_the_dtype_of_x(student, dtype):
    x = randn(6, seed=20, dtype=dtype)
    got = student.polynomial_features(x, 3)
    if isinstance(got, torch.Tensor) and got.dtype != x.dtype:
        fail(f"returned {got.dtype} for a {x.dtype} input; the features must keep x's dtype")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Features 1, x, ..., x^12 on [0, 1] are nearly dependent columns (condition number about 1e9): forming "
    "FᵀF squares it beyond what float64 can hold. Solve the least-squares problem on the features themselves."
)
def test_fit_polynomial_is_stable_at_degree_12_on_0_1(student):
    x_easy, y_easy, _, _ = polynomial_data([1.0, -2.0, 0.5, 3.0], seed=12, n_train=30)
    if not is_close(student.fit_polynomial(x_easy, y_easy, 3), lstsq_fit(x_easy, y_easy, 3)):
        fail(
            "fit_polynomial is already wrong at degree 3 on well-spread data (see "
            "test_fit_polynomial_matches_lstsq_on_the_vandermonde_matrix), so conditioning is not what goes wrong here"
        )
    x = torch.linspace(0, 1, 60, dtype=torch.float64)
    y = torch.cos(4 * x) + randn(60, seed=21, scale=1e-4)
    best = float((vander(x, 12) @ lstsq_fit(x, y, 12) - y).norm())
    coef = student.fit_polynomial(x, y, 12)
    if not isinstance(coef, torch.Tensor) or tuple(coef.shape) != (13,):
        fail(f"fit_polynomial(x, y, 12) must return 13 coefficients, got {getattr(coef, 'shape', coef)!r}")
    if not torch.isfinite(coef).all():
        fail("fit_polynomial(x, y, 12) returned inf or NaN coefficients on an ill-conditioned design")
    got = float((vander(x, 12) @ coef - y).norm())
    if got > best * (1 + 1e-6):
        fail(
            f"residual {got / best - 1:.2g} (relative) above torch.linalg.lstsq's at degree 12 on [0, 1]: the fit lost digits "
            "to the ill-conditioned features (normal equations or an explicit inverse?)"
        )


@pytest.mark.points(2)
@pytest.mark.hint("The search range is 0, 1, ..., max_degree: both ends are candidates too.")
@pytest.mark.parametrize(
    "coefs, max_degree, seed", [([1.5], 4, 30), ([1.0, -2.0, 0.5, 3.0], 3, 2)], ids=["degree 0", "degree = max_degree"]
)
def test_select_degree_can_choose_either_end_of_the_range(student, coefs, max_degree, seed):
    data = polynomial_data(coefs, seed)
    true_degree = len(coefs) - 1
    errors = validation_errors(*data, max_degree)
    ranked = sorted(range(max_degree + 1), key=lambda d: errors[d])
    assert ranked[0] == true_degree and errors[ranked[1]] > 1.02 * errors[ranked[0]], "test design: no clear winner"
    got = as_int(student.select_degree(*data, max_degree))
    if got == true_degree:
        return
    inside = polynomial_data([1.0, -1.0, 2.5], 1)  # true degree 2, well inside 0..8
    if as_int(student.select_degree(*inside, MAX_DEGREE)) != 2:
        fail(
            "select_degree already misses a true degree inside the range (see test_select_degree_picks_the_true_degree), "
            "so the ends of the range are not what goes wrong here"
        )
    if true_degree == max_degree:
        fail(f"chose degree {got} with max_degree = {max_degree} on data from a degree-{max_degree} polynomial: is max_degree itself tried?")
    fail(f"chose degree {got} on constant data (degree 0): is degree 0 (a constant fit) tried?")
