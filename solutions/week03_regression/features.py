"""Polynomial features, and choosing a model's capacity on held-out data.

A linear model on the features 1, x, x², …, x^d fits a polynomial of degree d. Raising d never
makes the training error worse (a degree-d fit is also a degree-(d+1) fit with a zero last
coefficient), so the training error cannot choose d: it always asks for more. Too low a degree
underfits (it cannot follow the data); too high a degree overfits (it follows the noise of the
few training points). The error on validation data, which the fit never saw, shows both, and
its minimum picks the degree.
"""

from __future__ import annotations

import torch


def polynomial_features(x: torch.Tensor, degree: int) -> torch.Tensor:
    """The powers of x from 0 to degree, as columns: like torch.vander(x, degree + 1, increasing=True).

    x: (N,) inputs. degree: >= 0.
    Returns: (N, degree + 1) in x's dtype; column j is x**j (column 0 is all ones, even where x is 0).
    """
    # TODO: one column per power j = 0, 1, ..., degree, in increasing order; broadcasting
    #       x of shape (N, 1) against the exponents of shape (degree + 1,) builds them all at once.
    ### BEGIN SOLUTION
    powers = torch.arange(degree + 1, dtype=x.dtype)
    return x.unsqueeze(-1) ** powers
    ### END SOLUTION


def fit_polynomial(x: torch.Tensor, y: torch.Tensor, degree: int) -> torch.Tensor:
    """Least-squares polynomial fit: the coefficients c minimizing ‖polynomial_features(x, degree) @ c − y‖².

    x, y: (N,). Returns: c of shape (degree + 1,), c[j] the coefficient of x**j.
    """
    # TODO: build the features with polynomial_features and solve the least-squares problem on
    #       them (column 0 is already the intercept; do not invert a matrix).
    ### BEGIN SOLUTION
    features = polynomial_features(x, degree)
    return torch.linalg.lstsq(features, y.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
    ### END SOLUTION


def select_degree(
    x_tr: torch.Tensor, y_tr: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor, max_degree: int
) -> int:
    """The degree in 0, 1, ..., max_degree whose fit on the training data has the lowest validation MSE.

    x_tr, y_tr: (N,) training data; x_val, y_val: (M,) validation data.
    Each degree is fitted with fit_polynomial on the training data only and scored by its mean
    squared error on the validation data. Ties go to the smallest degree.
    Returns: a Python int.
    """
    # TODO: for every degree from 0 to max_degree (inclusive), fit on the training set and measure
    #       the mean squared error of that fit on the validation set.
    # TODO: return the degree itself (not a position in a list that starts elsewhere), as an int.
    ### BEGIN SOLUTION
    errors = []
    for degree in range(max_degree + 1):
        coef = fit_polynomial(x_tr, y_tr, degree)
        pred = polynomial_features(x_val, degree) @ coef
        errors.append(((pred - y_val) ** 2).mean())
    return int(torch.stack(errors).argmin())
    ### END SOLUTION
