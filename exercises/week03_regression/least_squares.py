"""Linear regression in closed form: ordinary least squares and ridge regression.

Least squares picks the w, b that minimize the squared residual ‖X w + b − y‖². The textbook
answer w = (XᵀX)⁻¹Xᵀy is exact on paper and fragile in floating point: forming XᵀX squares the
condition number of X, so a design that is merely ill-conditioned (cond ≈ 1e9, like polynomial
features) becomes numerically singular (cond ≈ 1e18 > 1/eps). A stable solver works on X itself
(QR or SVD; torch.linalg.lstsq), and an SVD-based one also copes with dependent columns.

The intercept b is handled by centering: with the column means x̄ and ȳ subtracted, the best w
does not depend on b, and then b = ȳ − x̄·w. Ridge regression adds λ‖w‖² to the objective to
pull the weights towards 0; the intercept only says where the data sit, so it is not penalized.
"""

from __future__ import annotations

import torch


def least_squares(X: torch.Tensor, y: torch.Tensor, fit_intercept: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Ordinary least squares: the w, b that minimize ‖X w + b − y‖².

    X: (N, D) design matrix. y: (N,) targets, or (N, k) for k regressions that share X.
    fit_intercept: fit the intercept b; if False, b = 0 (the fit goes through the origin).
    Returns (w, b): w of shape (D,) or (D, k); b a 0-d tensor or of shape (k,).
    If X has dependent columns, many w reach the same minimal residual; any of them will do.
    """
    # TODO: for the intercept, center X's columns and y (subtract their means over the N rows),
    #       solve for w on the centered data, then recover b = ȳ − x̄·w.
    # TODO: never form (let alone invert) XᵀX: solve the least-squares problem on X itself with
    #       torch.linalg.lstsq (it wants a 2-d right-hand side). Pass driver="gelsd" (SVD): it copes
    #       with dependent columns, where the default driver can misjudge the rank and miss the minimum.
    raise NotImplementedError("least_squares() is not implemented yet")


def ridge(
    X: torch.Tensor, y: torch.Tensor, lam: float, fit_intercept: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ridge regression: the w, b that minimize ‖X w + b − y‖² + lam·‖w‖².

    The squared error is a sum over the examples (not a mean), and the penalty has no factor ½.
    The intercept b is not penalized: shifting every target by c shifts b by c and leaves w alone.
    X: (N, D). y: (N,) or (N, k). lam: the penalty weight, >= 0 (lam = 0 is least squares).
    Returns (w, b) with the shapes of least_squares.
    """
    # TODO: center as in least_squares, so that the penalty never touches the intercept.
    # TODO: ‖Xc w − yc‖² + lam·‖w‖² is itself a least-squares problem with D extra rows:
    #       stack sqrt(lam)·I under Xc and zeros under yc (or solve (XcᵀXc + lam·I) w = Xcᵀyc).
    raise NotImplementedError("ridge() is not implemented yet")
