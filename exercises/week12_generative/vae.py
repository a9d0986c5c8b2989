"""The variational auto-encoder: the reparameterisation trick, the KL term and the ELBO.

The encoder outputs, for each example, a diagonal Gaussian q(z|x) = N(mu, diag(exp(logvar)))
over the latent code z of D dims: `logvar` is the log of the *variance* σ², so the standard
deviation is σ = exp(logvar / 2). Sampling z directly would cut the gradient; the
reparameterisation trick draws ε ~ N(0, I) and sets z = mu + σ·ε, a differentiable function of
mu and logvar for fixed ε.

The ELBO of an example, for a Bernoulli decoder with logits x_logits, is

    ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I))
         = −BCE_with_logits(x_logits, x) summed over the pixels − KL,

a lower bound on log p(x) that training maximizes (the loss to minimize is −ELBO). For the
standard normal prior the KL has a closed form, summed over the D latent dims:

    KL = ½ Σ_d (mu_d² + σ_d² − 1 − log σ_d²).

Shapes: mu and logvar are (..., D): the last dim is the latent one, any leading dims are the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """z = mu + exp(logvar / 2)·ε, ε ~ N(0, I); the same shape and dtype as mu.

    mu, logvar: tensors of the same shape. Draw ε with exactly one call,
    torch.randn(mu.shape, generator=generator, dtype=mu.dtype), so that a seed fixes z.
    Gradients reach both mu and logvar.
    """
    # TODO: logvar is the log of the variance: what is the standard deviation?
    raise NotImplementedError("reparameterize() is not implemented yet")


def kl_to_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) ‖ N(0, 1)), summed over the last (latent) dim, averaged over the rest.

    mu, logvar: (..., D). Returns a 0-dim tensor, never negative (0 exactly when mu = 0, logvar = 0).
    """
    # TODO: the closed form above, term by term; then sum over the latent dim, mean over the batch.
    raise NotImplementedError("kl_to_std_normal() is not implemented yet")


def elbo(x: torch.Tensor, x_logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The ELBO of a Bernoulli-decoder VAE, averaged over the batch; a 0-dim tensor (≤ 0 for x in {0, 1}).

    x: (B, ...) targets in [0, 1]; x_logits: the decoder's logits, x's shape.
    mu, logvar: (B, D), the encoder's output for the same examples.
    The reconstruction term is BCE-with-logits summed over all of an example's pixels (not
    averaged); ELBO = −(that sum) − KL per example, then the mean over the B examples.
    Stable for logits of any size (never compute sigmoid then log).
    """
    # TODO: per-example reconstruction log-likelihood from the logits, minus the KL term.
    raise NotImplementedError("elbo() is not implemented yet")
