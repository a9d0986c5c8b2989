"""A Gaussian mixture fitted by expectation-maximization (EM).

A mixture of K Gaussians with diagonal covariances has the density

    p(x) = Σ_k pi_k · N(x; mu_k, diag(var_k)),

pi: (K,) mixing weights summing to 1, mu: (K, D) means, var: (K, D) variances (not standard
deviations). EM alternates two steps, and each never lowers the log-likelihood Σ_n log p(x_n):

- E-step: the responsibility of component k for point n, r_nk = pi_k N(x_n; k) / p(x_n).
  Far from every mean each density underflows to 0 and the ratio becomes 0/0 = NaN, so work
  with log pi_k + log N(x_n; k) and normalize with log-sum-exp over k.
- M-step: with N_k = Σ_n r_nk, pi_k = N_k / N, mu_k = Σ_n r_nk x_n / N_k and
  var_k = Σ_n r_nk (x_n − mu_k)² / N_k (with the new mu_k), floored at var_floor so that a
  component that collapses onto one point keeps a finite density.

X is (N, D); a point is a row.
"""

from __future__ import annotations

import math

import torch


def gmm_e_step(
    X: torch.Tensor, pi: torch.Tensor, mu: torch.Tensor, var: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Responsibilities and log-likelihood: (resp (N, K) with rows summing to 1, loglik 0-dim).

    loglik is Σ_n log p(x_n), the total over the N points. Both stay finite for points
    arbitrarily far from every mean.
    """
    # TODO: log pi_k + log N(x_n; mu_k, diag(var_k)) for every (n, k) pair, shape (N, K).
    # TODO: normalize over the components in log space.
    raise NotImplementedError("gmm_e_step() is not implemented yet")


def gmm_m_step(
    X: torch.Tensor, resp: torch.Tensor, var_floor: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The parameters (pi (K,), mu (K, D), var (K, D)) that maximize the expected log-likelihood.

    resp: (N, K) responsibilities (each component has some). Each variance is at least var_floor.
    """
    # TODO: the effective number of points of each component, then the weighted averages.
    raise NotImplementedError("gmm_m_step() is not implemented yet")


def fit_gmm(X: torch.Tensor, K: int, iters: int, init: torch.Tensor, var_floor: float = 1e-6) -> dict:
    """Fit a K-component mixture to X (N, D) with `iters` rounds of EM (an E-step, then an M-step).

    init: (K, D) the initial means (a ValueError unless it has K rows). The initial weights are
    uniform, and every component's initial variances are the per-dim variances of X (1/N
    normalization), floored at var_floor.
    Returns a dict:
      "pi", "mu", "var": the parameters after the last M-step;
      "resp": (N, K) the responsibilities under those final parameters;
      "log_likelihood": a tensor of iters + 1 values, the total log-likelihood of the initial
        parameters and of the parameters after each M-step (never decreasing).
    """
    # TODO: initialize; alternate gmm_e_step and gmm_m_step, recording each log-likelihood; one last
    #       E-step gives the final responsibilities and log-likelihood.
    raise NotImplementedError("fit_gmm() is not implemented yet")
