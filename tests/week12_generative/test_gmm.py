"""Hidden tests of week 12, gmm.py: a diagonal Gaussian mixture fitted by EM.

Log-likelihoods and responsibilities are computed at test time with torch.distributions
(MixtureSameFamily of Independent Normals, whose scale is the square root of the variance). The
M-step is compared with weighted statistics from np.average and torch.cov(aweights=...), and
fit_gmm with an EM loop written here from those pieces (not the reference's code), then with the
known components of the synthetic data, up to a permutation of the components.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from grader.testing import assert_close, fail, rand_distribution, randn

pytestmark = pytest.mark.exercise("gmm")

FLOOR = 1e-6


def components(mu, var):
    return Independent(Normal(mu, var.sqrt()), 1)


def mixture(pi, mu, var):
    return MixtureSameFamily(Categorical(probs=pi), components(mu, var))


def torch_e_step(X, pi, mu, var):
    """Responsibilities (N, K) and the total log-likelihood, from torch.distributions."""
    joint = components(mu, var).log_prob(X.unsqueeze(1)) + pi.log()
    point_ll = mixture(pi, mu, var).log_prob(X)
    return (joint - point_ll.unsqueeze(1)).exp(), point_ll.sum()


def weighted_stats(X, resp, floor=FLOOR):
    """The M-step from np.average and torch.cov with analytic weights."""
    pi = resp.mean(0)
    mu = torch.stack([torch.from_numpy(np.average(X.numpy(), axis=0, weights=w.numpy())) for w in resp.T])
    var = torch.stack(
        [torch.cov(X.T, aweights=w, correction=0).reshape(X.shape[1], X.shape[1]).diagonal() for w in resp.T]
    )
    return pi, mu, var.clamp(min=floor)


def em_here(X, init, iters, floor=FLOOR):
    """EM written from the two pieces above; the history has iters + 1 log-likelihoods."""
    K = init.shape[0]
    pi = torch.ones(K, dtype=X.dtype) / K
    mu, var = init.clone(), X.var(0, unbiased=False).clamp(min=floor).repeat(K, 1)
    history = []
    for _ in range(iters):
        resp, ll = torch_e_step(X, pi, mu, var)
        history.append(ll)
        pi, mu, var = weighted_stats(X, resp, floor)
    resp, ll = torch_e_step(X, pi, mu, var)
    return {"pi": pi, "mu": mu, "var": var, "resp": resp, "log_likelihood": torch.stack([*history, ll])}


def mixture_params(K, D, seed):
    pi = rand_distribution(K, seed=seed)
    mu = randn(K, D, seed=seed + 1, scale=2.0)
    var = 0.3 + torch.rand(K, D, generator=torch.Generator().manual_seed(seed + 2), dtype=torch.float64) * 2
    return pi, mu, var


def synthetic(n_per, seed=0):
    """Three well separated 2-D clusters of different weights and spreads; their true parameters."""
    true_mu = torch.tensor([[-4.0, 0.0], [0.0, 4.0], [4.0, -1.0]], dtype=torch.float64)
    true_sd = torch.tensor([[0.5, 0.8], [1.0, 0.4], [0.7, 0.7]], dtype=torch.float64)
    counts = [n_per, 2 * n_per, 3 * n_per]
    g = torch.Generator().manual_seed(seed)
    X = torch.cat(
        [true_mu[k] + true_sd[k] * torch.randn(c, 2, generator=g, dtype=torch.float64) for k, c in enumerate(counts)]
    )
    labels = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])
    order = torch.randperm(X.shape[0], generator=g)
    return X[order], labels[order]


def cluster_stats(X, labels):
    """Each cluster's fraction, mean and 1/N variance: what a well separated fit should find."""
    groups = [X[labels == k] for k in range(int(labels.max()) + 1)]
    return {
        "pi": torch.tensor([len(x) / len(X) for x in groups], dtype=X.dtype),
        "mu": torch.stack([x.mean(0) for x in groups]),
        "var": torch.stack([x.var(0, unbiased=False) for x in groups]),
    }


def by_first_coordinate(fit):
    order = fit["mu"][:, 0].argsort()
    return {"pi": fit["pi"][order], "mu": fit["mu"][order], "var": fit["var"][order]}


def check_fit_shapes(fit, N, K, D, iters):
    if not isinstance(fit, dict):
        fail(f"fit_gmm should return a dict, got {type(fit).__name__}")
    keys = {"pi", "mu", "var", "resp", "log_likelihood"}
    if set(fit) != keys:
        fail(f"fit_gmm's dict should have the keys {sorted(keys)}, got {sorted(fit)}")
    for key, shape in (
        ("pi", (K,)),
        ("mu", (K, D)),
        ("var", (K, D)),
        ("resp", (N, K)),
        ("log_likelihood", (iters + 1,)),
    ):
        value = fit[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            fail(f"fit['{key}'] should have shape {shape} for N={N}, K={K}, D={D}, iters={iters}; got {got}")


# --- gmm_e_step -----------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "r_nk ∝ pi_k N(x_n; mu_k, var_k), normalized over the components k; the log-likelihood sums log p(x_n) over the "
    "points. var is a variance."
)
@pytest.mark.parametrize("N,K,D", [(1, 3, 2), (7, 2, 1), (40, 4, 3)], ids=str)
def test_e_step_matches_mixture_same_family(student, N, K, D):
    pi, mu, var = mixture_params(K, D, seed=N)
    X = randn(N, D, seed=N + 10, scale=2.0)
    want_resp, want_ll = torch_e_step(X, pi, mu, var)
    resp, ll = student.gmm_e_step(X, pi, mu, var)
    as_std_resp, as_std_ll = torch_e_step(X, pi, mu, var**2)
    joint = components(mu, var).log_prob(X.unsqueeze(1))
    resp_mistakes = {
        "var was used as a standard deviation: it is a variance": as_std_resp,
        "the mixing weights pi are missing": joint.softmax(1),
    }
    if N > 1:
        resp_mistakes["normalized over the points: each point's responsibilities sum to 1 over the components"] = (
            joint + pi.log()
        ).softmax(0)
    assert_close(resp, want_resp, what="responsibilities", mistakes=resp_mistakes)
    ll_mistakes = {
        "var was used as a standard deviation: it is a variance": as_std_ll,
        "the -½·log 2π constant is missing": want_ll + N * D * 0.5 * np.log(2 * np.pi),
    }
    if N > 1:
        ll_mistakes["averaged over the points: the log-likelihood is their sum"] = want_ll / N
    assert_close(ll, want_ll, what="log-likelihood", mistakes=ll_mistakes)


@pytest.mark.points(3)
@pytest.mark.hint(
    "Far from every mean each density underflows to 0, and 0/0 is NaN: normalize log pi_k + log N(x_n; k) in log "
    "space (log-sum-exp)."
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_e_step_is_stable_far_from_every_mean(student, dtype):
    pi, mu, var = (t.to(dtype) for t in mixture_params(3, 2, seed=20))
    X = torch.tensor([[1e3, 1e3], [-1e3, 5.0], [0.5, -0.2], [2e3, -1e3]], dtype=dtype)
    want_resp, want_ll = torch_e_step(X.double(), pi.double(), mu.double(), var.double())
    resp, ll = student.gmm_e_step(X, pi, mu, var)
    if isinstance(resp, torch.Tensor) and torch.isnan(resp).any():
        fail("NaN responsibilities for far points: normalize in log space")
    if isinstance(ll, torch.Tensor) and not torch.isfinite(ll).all():
        fail("the log-likelihood is not finite for far points: compute log p(x) with log-sum-exp")
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {}
    assert_close(resp, want_resp.to(dtype), what="responsibilities of far points", **tol)
    assert_close(ll, want_ll.to(dtype), what="log-likelihood with far points", **tol)


# --- gmm_m_step -----------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "N_k = Σ_n r_nk; pi_k = N_k / N; mu_k and var_k are averages weighted by r_nk (divide by N_k), and var_k is taken "
    "around the new mu_k."
)
@pytest.mark.parametrize("N,K,D", [(2, 2, 1), (9, 3, 2), (50, 4, 3)], ids=str)
def test_m_step_matches_weighted_statistics(student, N, K, D):
    X = randn(N, D, seed=N + 30, scale=2.0) + 3.0
    resp = rand_distribution(N, K, seed=N + 31)
    want_pi, want_mu, want_var = weighted_stats(X, resp)
    got = student.gmm_m_step(X, resp)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        fail("gmm_m_step should return a tuple (pi, mu, var)")
    pi, mu, var = got
    counts = resp.sum(0)
    assert_close(
        pi,
        want_pi,
        what="pi",
        mistakes={"pi is N_k: divide the effective counts by N so that the weights sum to 1": counts},
    )
    assert_close(
        mu,
        want_mu,
        what="mu",
        mistakes={
            "mu divided by N instead of N_k": want_mu * counts.unsqueeze(1) / N,
            "mu is the unweighted mean of X: weight each point by its responsibility": X.mean(0).expand(K, D),
        },
    )
    spread = (resp.unsqueeze(2) * (X.unsqueeze(1) - want_mu) ** 2).sum(0)
    around_all = (resp.unsqueeze(2) * (X.unsqueeze(1) - X.mean(0)) ** 2).sum(0) / counts.unsqueeze(1)
    assert_close(
        var,
        want_var,
        what="var",
        mistakes={
            "var divided by N instead of N_k": (spread / N).clamp(min=FLOOR),
            "var is a standard deviation: return the variance": want_var.sqrt(),
            "var taken around the mean of all the data, not around the component's new mean": around_all,
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("A component that sits on identical points has variance 0: floor every variance at var_floor.")
@pytest.mark.parametrize("floor", [None, 0.01])
def test_m_step_floors_the_variance(student, floor):
    X = torch.tensor([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [5.0, -1.0], [6.0, 0.5]], dtype=torch.float64)
    resp = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    used = FLOOR if floor is None else floor
    _, _, want_var = weighted_stats(X, resp, used)
    _, _, var = student.gmm_m_step(X, resp) if floor is None else student.gmm_m_step(X, resp, floor)
    assert_close(
        var,
        want_var,
        what=f"var with var_floor={used:g}",
        mistakes={"a variance of 0 was returned: floor it at var_floor": want_var.masked_fill(want_var == used, 0.0)},
    )


# --- fit_gmm --------------------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.hint(
    "Record the log-likelihood of the initial parameters and after each M-step; EM never lowers it. Start from "
    "uniform weights, the given means and the data's per-dim variance."
)
@pytest.mark.parametrize("iters", [1, 12])
def test_fit_gmm_log_likelihood_never_decreases_and_matches_torch(student, iters):
    X, *_ = synthetic(30, seed=1)
    init = X[[0, 1, 2]].clone()
    fit = student.fit_gmm(X, 3, iters, init)
    check_fit_shapes(fit, X.shape[0], 3, 2, iters)
    history = fit["log_likelihood"]
    steps = history[1:] - history[:-1]
    if bool((steps < -1e-9 * (1 + history[:-1].abs())).any()):
        at = int((steps < -1e-9 * (1 + history[:-1].abs())).nonzero()[0])
        fail(f"the log-likelihood decreased at iteration {at + 1}: EM never lowers it")
    final_resp, final_ll = torch_e_step(X, fit["pi"], fit["mu"], fit["var"])
    assert_close(history[-1], final_ll, what="the last log-likelihood vs MixtureSameFamily on the returned parameters")
    assert_close(fit["resp"], final_resp, what="responsibilities under the returned parameters")
    want = em_here(X, init, iters)
    assert_close(
        history,
        want["log_likelihood"],
        rtol=1e-9,
        atol=1e-9,
        what="log-likelihood history",
        mistakes={
            "the history misses the initial parameters' log-likelihood, or the final one": torch.cat(
                [want["log_likelihood"][1:], want["log_likelihood"][-1:]]
            )
        },
    )


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint("Alternate E- and M-steps from the given means; the mixture should find the three clusters.")
def test_fit_gmm_recovers_the_known_components(student):
    X, labels = synthetic(100, seed=2)
    init = X[[0, 2, 4]].clone()
    fit = student.fit_gmm(X, 3, 60, init)
    check_fit_shapes(fit, X.shape[0], 3, 2, 60)
    got = by_first_coordinate(fit)
    want = by_first_coordinate(em_here(X, init, 60))
    assert_close(got, want, rtol=1e-6, atol=1e-6, what="fitted parameters (sorted by the first mean coordinate)")
    known = cluster_stats(X, labels)
    assert_close(got["pi"], known["pi"], atol=0.01, rtol=0.0, what="fitted weights vs the clusters' fractions")
    assert_close(got["mu"], known["mu"], atol=0.03, rtol=0.0, what="fitted means vs the clusters' means")
    assert_close(got["var"], known["var"], atol=0.0, rtol=0.05, what="fitted variances vs the clusters' variances")


@pytest.mark.points(2)
@pytest.mark.hint(
    "With one component EM converges in one step to the sample mean and the 1/N sample variance; the weight is 1."
)
def test_fit_gmm_with_one_component_is_the_sample_mean_and_variance(student):
    X = randn(11, 3, seed=40) * torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64) + 7.0
    fit = student.fit_gmm(X, 1, 3, torch.zeros(1, 3, dtype=torch.float64))
    check_fit_shapes(fit, 11, 1, 3, 3)
    assert_close(fit["pi"], torch.ones(1, dtype=torch.float64), what="pi with one component")
    assert_close(fit["mu"], X.mean(0, keepdim=True), what="mu with one component")
    assert_close(
        fit["var"],
        X.var(0, unbiased=False, keepdim=True),
        what="var with one component",
        mistakes={"the unbiased (1/(N-1)) variance: the M-step divides by N_k": X.var(0, keepdim=True)},
    )


@pytest.mark.points(1)
@pytest.mark.hint("With iters = 0 nothing is fitted: return the initial parameters and their log-likelihood.")
def test_fit_gmm_with_zero_iterations_returns_the_initialization(student):
    X, *_ = synthetic(5, seed=3)
    init = X[[0, 7]].clone()
    fit = student.fit_gmm(X, 2, 0, init)
    check_fit_shapes(fit, X.shape[0], 2, 2, 0)
    want = em_here(X, init, 0)
    assert_close(fit["pi"], want["pi"], what="initial weights (uniform)")
    assert_close(fit["mu"], init, what="initial means")
    assert_close(
        fit["var"],
        want["var"],
        what="initial variances",
        mistakes={"the initial variances are the unbiased ones: use the 1/N variance of X": X.var(0).repeat(2, 1)},
    )
    assert_close(fit["log_likelihood"], want["log_likelihood"], what="log-likelihood of the initial parameters")
