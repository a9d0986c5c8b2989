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
    ### BEGIN SOLUTION
    diff = X.unsqueeze(1) - mu.unsqueeze(0)
    log_density = -0.5 * (torch.log(2 * math.pi * var) + diff**2 / var).sum(-1)
    log_joint = torch.log(pi) + log_density
    log_evidence = torch.logsumexp(log_joint, dim=1, keepdim=True)
    return torch.exp(log_joint - log_evidence), log_evidence.sum()
    ### END SOLUTION


def gmm_m_step(
    X: torch.Tensor, resp: torch.Tensor, var_floor: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The parameters (pi (K,), mu (K, D), var (K, D)) that maximize the expected log-likelihood.

    resp: (N, K) responsibilities (each component has some). Each variance is at least var_floor.
    """
    # TODO: the effective number of points of each component, then the weighted averages.
    ### BEGIN SOLUTION
    counts = resp.sum(0)
    pi = counts / X.shape[0]
    mu = (resp.T @ X) / counts.unsqueeze(1)
    diff = X.unsqueeze(1) - mu.unsqueeze(0)
    var = (resp.unsqueeze(2) * diff**2).sum(0) / counts.unsqueeze(1)
    return pi, mu, var.clamp(min=var_floor)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    if init.shape[0] != K:
        raise ValueError(f"init has {init.shape[0]} means for K = {K} components")
    pi = torch.full((K,), 1.0 / K, dtype=X.dtype)
    mu = init.to(X.dtype).clone()
    var = X.var(0, unbiased=False).clamp(min=var_floor).expand(K, -1).clone()
    history = []
    for _ in range(iters):
        resp, loglik = gmm_e_step(X, pi, mu, var)
        history.append(loglik)
        pi, mu, var = gmm_m_step(X, resp, var_floor)
    resp, loglik = gmm_e_step(X, pi, mu, var)
    history.append(loglik)
    return {"pi": pi, "mu": mu, "var": var, "resp": resp, "log_likelihood": torch.stack(history)}
    ### END SOLUTION
