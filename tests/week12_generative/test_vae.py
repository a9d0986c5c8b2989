"""Hidden tests of week 12, vae.py: the reparameterisation trick, the KL to N(0, I), the ELBO.

reparameterize() draws ε with one prescribed call, so a probe can redraw the same ε from the same
seed and the sample is compared exactly; a separate statistical test (independent of the draw)
checks that the sample variance is exp(logvar). The KL is compared with
torch.distributions.kl_divergence(Normal(mu, exp(logvar / 2)), Normal(0, 1)), the ELBO with
binary_cross_entropy_with_logits and that KL, and gradients with autograd through those.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from grader.testing import SHAPES, assert_close, fail, randn

pytestmark = pytest.mark.exercise("vae")


def _sample(m, mu, logvar, seed):
    z = m.reparameterize(mu, logvar, torch.Generator().manual_seed(seed))
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed), dtype=mu.dtype)
    return z, eps


def _sample_grads(m, mu, logvar, weights, seed):
    mu, logvar = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    z = m.reparameterize(mu, logvar, torch.Generator().manual_seed(seed))
    (z * weights).sum().backward()
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed), dtype=mu.dtype)
    return mu.grad, logvar.grad, eps


def _sample_randomness(m, mu, logvar):
    saved = torch.get_rng_state()
    try:
        torch.manual_seed(99)
        gen = torch.Generator().manual_seed(3)
        before = gen.get_state()
        first = m.reparameterize(mu, logvar, gen)
        advanced = not torch.equal(before, gen.get_state())
        global_untouched = torch.equal(torch.get_rng_state(), torch.manual_seed(99).get_state())
        again = m.reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    finally:
        torch.set_rng_state(saved)
    return {"first": first, "again": again, "advanced": advanced, "global_untouched": global_untouched}


def _loss_grads(m, name, first_leaf, *tensors):
    leaves = [t.clone().requires_grad_() if i >= first_leaf else t for i, t in enumerate(tensors)]
    value = getattr(m, name)(*leaves)
    value.backward()
    return value.detach(), [leaf.grad for leaf in leaves]


def torch_kl(mu, logvar):
    """KL(q ‖ N(0, 1)) of each example from torch.distributions, summed over the latent dim."""
    return kl_divergence(Normal(mu, torch.exp(logvar / 2)), Normal(torch.zeros_like(mu), 1.0)).sum(-1)


def torch_elbo_terms(x, logits, mu, logvar):
    """Per-example reconstruction log-likelihood and KL."""
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return -bce.reshape(x.shape[0], -1).sum(1), torch_kl(mu, logvar)


# --- reparameterize -------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("logvar is the log of the variance σ²: the sample is mu + σ·ε, and σ is not exp(logvar).")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_reparameterize_matches_the_seeded_formula(student, shape):
    mu = randn(*shape, seed=1)
    logvar = randn(*shape, seed=2) + 0.7
    z, eps = student.run(_sample, mu, logvar, 5)
    assert_close(
        z,
        mu + torch.exp(logvar / 2) * eps,
        what="z",
        mistakes={
            "z = mu + exp(logvar)·ε: that scales ε by the variance, not the standard deviation": mu
            + torch.exp(logvar) * eps,
            "z = mu + logvar·ε: logvar is a log-variance, not a standard deviation": mu + logvar * eps,
            "z = mu + exp(-logvar / 2)·ε: the standard deviation is exp(+logvar / 2)": mu
            + torch.exp(-logvar / 2) * eps,
            "z = mu: the noise ε was not added": mu,
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("Over many draws the samples of each latent dim should have variance exp(logvar): is σ right?")
def test_reparameterize_sample_variance_matches_exp_logvar(student):
    draws = 20000
    logvar_row = torch.tensor([-1.0, 0.6, 1.5], dtype=torch.float64)
    mu = torch.tensor([0.5, -2.0, 1.0], dtype=torch.float64).expand(draws, 3).contiguous()
    z, _ = student.run(_sample, mu, logvar_row.expand(draws, 3).contiguous(), 9)
    want = torch.exp(logvar_row)
    got = z.var(0)
    if torch.allclose(got, torch.exp(2 * logvar_row), rtol=0.1):
        fail("the sample variance matches exp(logvar)²: the variance was used as the standard deviation")
    assert_close(got, want, rtol=0.06, atol=0.0, what="sample variance of z per latent dim")
    assert_close(z.mean(0), mu[0], atol=0.1, rtol=0.0, what="sample mean of z per latent dim")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Build z from mu and logvar with torch operations: for fixed ε, dz/dmu = 1 and dz/dlogvar = ½·exp(logvar/2)·ε."
)
@pytest.mark.parametrize("shape", [(1, 2), (4, 3)], ids=str)
def test_reparameterize_gradients_reach_mu_and_logvar(student, shape):
    mu, logvar, weights = randn(*shape, seed=3), randn(*shape, seed=4), randn(*shape, seed=6)
    grad_mu, grad_logvar, eps = student.run(_sample_grads, mu, logvar, weights, 8)
    if grad_mu is None:
        fail("no gradient reached mu")
    if grad_logvar is None:
        fail("no gradient reached logvar: was the noise scale detached or built outside autograd?")
    assert_close(grad_mu, weights, what="gradient with respect to mu")
    assert_close(
        grad_logvar,
        weights * 0.5 * torch.exp(logvar / 2) * eps,
        what="gradient with respect to logvar",
        mistakes={
            "the gradient of mu + exp(logvar)·ε: the variance was used as the std": weights * torch.exp(logvar) * eps
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint(
    "Draw ε with generator=generator and mu's dtype: the same seed must give the same z, the global random state "
    "stays untouched, and float32 stays float32."
)
def test_reparameterize_draws_only_from_the_generator_and_keeps_the_dtype(student):
    mu, logvar = randn(1, 4, seed=7, dtype=torch.float32), randn(1, 4, seed=8, dtype=torch.float32)
    got = student.run(_sample_randomness, mu, logvar)
    if not got["global_untouched"]:
        fail("the global random state changed: draw ε from the generator passed in")
    if not got["advanced"]:
        fail("the generator passed in was not used")
    if got["first"].dtype != torch.float32:
        fail(f"z should keep mu's dtype float32, got {got['first'].dtype}")
    assert_close(got["again"], got["first"], what="z for the same seed")


@pytest.mark.points(1)
@pytest.mark.hint("A very negative logvar means a tiny variance: z is then (almost exactly) mu, never NaN.")
def test_reparameterize_with_tiny_variance_returns_mu(student):
    mu = randn(3, 2, seed=9)
    z, _ = student.run(_sample, mu, torch.full((3, 2), -80.0, dtype=torch.float64), 10)
    assert_close(z, mu, atol=1e-15, what="z when logvar = -80")


# --- kl_to_std_normal -----------------------------------------------------------------------------


def kl_mistakes(mu, logvar, want):
    per_example = torch_kl(mu, logvar)
    found = {
        "the KL is negative: its sign is flipped": -want,
        "twice the expected KL: the ½ in front is missing": 2 * want,
        "averaged over the latent dims: the KL is summed over them": want / mu.shape[-1],
        "logvar treated as the log of the std": torch_kl(mu, 2 * logvar).mean(),
    }
    if per_example.numel() > 1:
        found["summed over the batch: it should be averaged over the examples"] = per_example.sum()
    return found


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Derive KL(N(mu, σ²) ‖ N(0, 1)) term by term; sum over the latent dims and average over the batch.")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_kl_to_std_normal_matches_torch_distributions(student, shape):
    mu, logvar = randn(*shape, seed=10), randn(*shape, seed=11, scale=1.5)
    want = torch_kl(mu, logvar).mean()
    assert_close(student.kl_to_std_normal(mu, logvar), want, what="KL", mistakes=kl_mistakes(mu, logvar, want))


@pytest.mark.points(1)
@pytest.mark.hint("KL(q ‖ p) is 0 when q = p, and never negative otherwise.")
def test_kl_to_std_normal_is_zero_at_the_prior_and_positive_elsewhere(student):
    zeros = torch.zeros(1, 5, dtype=torch.float64)
    assert_close(student.kl_to_std_normal(zeros, zeros), torch.tensor(0.0, dtype=torch.float64), what="KL at the prior")
    mu, logvar = randn(6, 4, seed=12, scale=3.0), randn(6, 4, seed=13, scale=3.0)
    want = torch_kl(mu, logvar).mean()
    got = student.kl_to_std_normal(mu, logvar)
    if isinstance(got, torch.Tensor) and got.numel() == 1 and float(got) < 0:
        fail("the KL is negative: its sign is flipped (KL is never negative)")
    assert_close(got, want, what="KL far from the prior", mistakes=kl_mistakes(mu, logvar, want))


@pytest.mark.points(1)
@pytest.mark.hint("Build the KL from torch operations on mu and logvar; both must receive gradients.")
def test_kl_to_std_normal_gradients_match_autograd(student):
    mu, logvar = randn(3, 4, seed=14), randn(3, 4, seed=15)
    leaves = [mu.clone().requires_grad_(), logvar.clone().requires_grad_()]
    want = torch.autograd.grad(torch_kl(*leaves).mean(), leaves)
    _, grads = student.run(_loss_grads, "kl_to_std_normal", 0, mu, logvar)
    if any(g is None for g in grads):
        fail("mu or logvar received no gradient from the KL")
    assert_close(grads, list(want), what="gradients of the KL with respect to (mu, logvar)")


# --- elbo -----------------------------------------------------------------------------------------


def elbo_case(batch, seed):
    x = torch.rand(batch, 1, 4, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    logits = randn(batch, 1, 4, 3, seed=seed + 1, scale=2.0)
    mu, logvar = randn(batch, 5, seed=seed + 2), randn(batch, 5, seed=seed + 3)
    return x, logits, mu, logvar


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "ELBO = log-likelihood of x (minus the BCE-with-logits summed over an example's pixels) minus the KL; average "
    "over the batch. It is a bound to maximize, not the loss."
)
@pytest.mark.parametrize("batch", [1, 6])
def test_elbo_matches_bce_with_logits_and_the_torch_kl(student, batch):
    x, logits, mu, logvar = elbo_case(batch, 20 + batch)
    recon, kl = torch_elbo_terms(x, logits, mu, logvar)
    want = (recon - kl).mean()
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(batch, -1)
    mistakes = {
        "the negative ELBO (the loss) was returned: the ELBO is the bound itself": -want,
        "the BCE was averaged over the pixels: it is summed per example": (-bce.mean(1) - kl).mean(),
        "the KL was added: the ELBO subtracts it": (recon + kl).mean(),
        "the KL term is missing": recon.mean(),
    }
    if batch > 1:
        mistakes["summed over the batch: average the per-example ELBO"] = (recon - kl).sum()
    assert_close(student.elbo(x, logits, mu, logvar), want, what="ELBO", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint("Never compute sigmoid and then log: a logit of ±100 must give a finite log-likelihood.")
def test_elbo_is_finite_for_extreme_logits(student):
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]], dtype=torch.float32)
    logits = torch.tensor([[-100.0, 100.0, -300.0, 300.0, 20.0, -5.0]], dtype=torch.float32)
    mu, logvar = torch.zeros(1, 2), torch.zeros(1, 2)
    got = student.elbo(x, logits, mu, logvar)
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        fail("the ELBO is not finite for logits of ±100: the log-likelihood was computed from probabilities")
    recon, kl = torch_elbo_terms(x, logits, mu, logvar)
    clamped = -F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum")
    assert_close(
        got,
        (recon - kl).mean(),
        what="ELBO at extreme logits",
        mistakes={"matches BCE on sigmoid probabilities, which clamps each log at -100": clamped},
    )


@pytest.mark.points(1)
@pytest.mark.hint("Build the ELBO from torch operations: gradients must reach the logits, mu and logvar.")
def test_elbo_gradients_match_autograd(student):
    x, logits, mu, logvar = elbo_case(4, 30)
    leaves = [logits.clone().requires_grad_(), mu.clone().requires_grad_(), logvar.clone().requires_grad_()]
    recon, kl = torch_elbo_terms(x, *leaves)
    want = torch.autograd.grad((recon - kl).mean(), leaves)
    _, grads = student.run(_loss_grads, "elbo", 1, x, logits, mu, logvar)
    if any(g is None for g in grads[1:]):
        fail("the logits, mu or logvar received no gradient from the ELBO")
    assert_close(grads[1:], list(want), what="gradients of the ELBO with respect to (logits, mu, logvar)")
