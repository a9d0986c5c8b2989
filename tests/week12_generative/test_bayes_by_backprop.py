"""Hidden tests of week 12, bayes_by_backprop.py (★ optional): weight samples and their KL to the prior.

bayes_linear_sample() draws ε with one prescribed call, so a probe redraws the same ε from the
same seed and the sample is compared exactly. kl_gaussian() is compared with
torch.distributions.kl_divergence(Normal(mu, softplus(rho)), Normal(0, prior_sigma)), and with a
Monte Carlo estimate, mean of log q(w) - log p(w) over the learner's own samples, which must lie
within 3 standard errors of it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from grader.testing import SHAPES, assert_close, fail, randn

pytestmark = pytest.mark.exercise("bayes_by_backprop")


def _weights(m, mu, rho, seed):
    w = m.bayes_linear_sample(mu, rho, torch.Generator().manual_seed(seed))
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed), dtype=mu.dtype)
    return w, eps


def _weight_grads(m, mu, rho, upstream, seed):
    mu, rho = mu.clone().requires_grad_(), rho.clone().requires_grad_()
    (m.bayes_linear_sample(mu, rho, torch.Generator().manual_seed(seed)) * upstream).sum().backward()
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed), dtype=mu.dtype)
    return mu.grad, rho.grad, eps


def _kl_grads(m, mu, rho, prior_sigma):
    mu, rho = mu.clone().requires_grad_(), rho.clone().requires_grad_()
    m.kl_gaussian(mu, rho, prior_sigma).backward()
    return mu.grad, rho.grad


def _monte_carlo_kl(m, mu, rho, prior_sigma, draws, seed):
    samples = m.bayes_linear_sample(
        mu.expand(draws, *mu.shape), rho.expand(draws, *rho.shape), torch.Generator().manual_seed(seed)
    )
    sigma = F.softplus(rho)
    log_q = torch.distributions.Normal(mu, sigma).log_prob(samples).flatten(1).sum(1)
    log_p = torch.distributions.Normal(0.0, prior_sigma).log_prob(samples).flatten(1).sum(1)
    terms = log_q - log_p
    return {
        "estimate": terms.mean(),
        "std_error": terms.std() / draws**0.5,
        "closed_form": m.kl_gaussian(mu, rho, prior_sigma),
    }


def torch_kl(mu, rho, prior_sigma):
    return kl_divergence(Normal(mu, F.softplus(rho)), Normal(torch.zeros_like(mu), prior_sigma)).sum()


# --- bayes_linear_sample --------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("σ = softplus(ρ) = log(1 + exp(ρ)) is the standard deviation: w = μ + σ·ε.")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_bayes_linear_sample_matches_the_seeded_formula(student, shape):
    mu, rho = randn(*shape, seed=1), randn(*shape, seed=2) - 1.0
    w, eps = student.run(_weights, mu, rho, 3)
    sigma = F.softplus(rho)
    assert_close(
        w,
        mu + sigma * eps,
        what="w",
        mistakes={
            "σ = exp(ρ): the standard deviation is softplus(ρ)": mu + torch.exp(rho) * eps,
            "σ = ρ: ρ is unconstrained, σ = softplus(ρ) keeps it positive": mu + rho * eps,
            "w = μ + softplus(ρ)²·ε: softplus(ρ) is already the standard deviation": mu + sigma**2 * eps,
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint("exp(ρ) overflows for large ρ: use a softplus that stays finite (softplus(ρ) ≈ ρ there).")
def test_bayes_linear_sample_is_stable_for_large_rho(student):
    mu = torch.zeros(1, 5)
    rho = torch.tensor([[-30.0, 0.0, 30.0, 100.0, 200.0]])
    w, eps = student.run(_weights, mu, rho, 4)
    if isinstance(w, torch.Tensor) and not torch.isfinite(w).all():
        fail("non-finite weights for ρ = 100: log(1 + exp(ρ)) overflows; use a stable softplus")
    assert_close(w, F.softplus(rho) * eps, rtol=1e-5, what="w for large ρ")


@pytest.mark.points(2)
@pytest.mark.hint("For fixed ε, dw/dμ = 1 and dw/dρ = ε·sigmoid(ρ): build w with torch operations on μ and ρ.")
def test_bayes_linear_sample_gradients_reach_mu_and_rho(student):
    mu, rho, upstream = randn(3, 4, seed=5), randn(3, 4, seed=6), randn(3, 4, seed=7)
    grad_mu, grad_rho, eps = student.run(_weight_grads, mu, rho, upstream, 8)
    if grad_mu is None or grad_rho is None:
        fail("μ or ρ received no gradient from the sample")
    assert_close(grad_mu, upstream, what="gradient with respect to μ")
    assert_close(grad_rho, upstream * eps * torch.sigmoid(rho), what="gradient with respect to ρ")


# --- kl_gaussian ----------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "KL(N(μ, σ²) ‖ N(0, s²)) = log(s/σ) + (σ² + μ²)/(2s²) − ½ per weight, with σ = softplus(ρ); sum over the weights."
)
@pytest.mark.parametrize("prior_sigma", [0.5, 2.0])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_kl_gaussian_matches_torch_distributions(student, shape, prior_sigma):
    mu, rho = randn(*shape, seed=9), randn(*shape, seed=10) - 0.5
    want = torch_kl(mu, rho, prior_sigma)
    per_weight = kl_divergence(Normal(mu, F.softplus(rho)), Normal(torch.zeros_like(mu), prior_sigma))
    assert_close(
        student.kl_gaussian(mu, rho, prior_sigma),
        want,
        what="KL to the prior",
        mistakes={
            "σ = exp(ρ): the standard deviation is softplus(ρ)": kl_divergence(
                Normal(mu, torch.exp(rho)), Normal(torch.zeros_like(mu), prior_sigma)
            ).sum(),
            "prior_sigma was used as a variance: it is the prior's standard deviation": torch_kl(
                mu, rho, prior_sigma**0.5
            ),
            "averaged over the weights: the KL is summed over them": per_weight.mean(),
            "the KL is negative: its sign is flipped": -want,
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint("KL(q ‖ p) is 0 when q is the prior itself.")
def test_kl_gaussian_is_zero_when_q_is_the_prior(student):
    prior_sigma = 1.5
    rho = torch.full((1, 4), prior_sigma, dtype=torch.float64).expm1().log()  # softplus(rho) = prior_sigma
    got = student.kl_gaussian(torch.zeros(1, 4, dtype=torch.float64), rho, prior_sigma)
    assert_close(got, torch.tensor(0.0, dtype=torch.float64), atol=1e-12, what="KL of the prior to itself")


@pytest.mark.points(2)
@pytest.mark.hint("The KL's gradients must reach μ and ρ: build it from torch operations on both.")
def test_kl_gaussian_gradients_reach_mu_and_rho(student):
    mu, rho = randn(2, 5, seed=11), randn(2, 5, seed=12)
    leaves = [mu.clone().requires_grad_(), rho.clone().requires_grad_()]
    want = torch.autograd.grad(torch_kl(*leaves, 0.8), leaves)
    grads = student.run(_kl_grads, mu, rho, 0.8)
    if any(g is None for g in grads):
        fail("μ or ρ received no gradient from the KL")
    assert_close(list(grads), list(want), what="gradients of the KL with respect to (μ, ρ)")


@pytest.mark.points(2)
@pytest.mark.hint(
    "The closed form must agree with the average of log q(w) − log p(w) over many sampled weights w: check both "
    "the sampler and the formula."
)
def test_kl_gaussian_agrees_with_a_monte_carlo_estimate(student):
    mu, rho = randn(6, seed=13, scale=0.5), randn(6, seed=14) - 1.0
    case = student.run(_monte_carlo_kl, mu, rho, 1.0, 20000, 15)
    closed, estimate, error = float(case["closed_form"]), float(case["estimate"]), float(case["std_error"])
    if abs(closed - estimate) > 3 * error:
        fail(
            f"the closed-form KL {closed:.4g} is more than 3 standard errors from the Monte Carlo estimate "
            f"{estimate:.4g} ± {error:.2g} over the samples"
        )
