"""Log-probabilities of three distributions, and samplers built from uniform random numbers.

The log-probability functions follow torch.distributions: the parameters and the values
broadcast against each other like tensors do, and the result has the broadcast shape. The
samplers turn uniform draws of a given torch.Generator into categorical draws (inverse CDF) and
normal draws (Box-Muller), so the same seed gives the same samples.
"""

from __future__ import annotations

import torch


def log_prob_bernoulli(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """log P(X = x) for X ~ Bernoulli(p): log p if x = 1, log(1 - p) if x = 0.

    x: values in {0., 1.} (a floating tensor). p: probabilities of 1, in [0, 1].
    x and p broadcast; returns a tensor of the broadcast shape.
    p = 0 or 1 gives -inf only for the impossible outcome, and 0 for the certain one.
    """
    # TODO: write both cases as one expression in x, so that it broadcasts.
    # TODO: the term that is switched off (weight 0) must contribute 0 even when its log is -inf.
    raise NotImplementedError("log_prob_bernoulli() is not implemented yet")


def log_prob_categorical(x: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """log P(X = x) for X ~ Categorical(probs): log probs[..., x].

    x: integer class indices of shape S. probs: (..., K) probabilities summing to 1 along the
    last dim, whose batch shape (...) broadcasts with S.
    Returns: a tensor of the broadcast shape of S and probs.shape[:-1].
    A category of probability 0 gives -inf.
    """
    # TODO: broadcast the indices (with a trailing dim of 1) against probs first, then pick one
    #       entry of the last dim per index (torch.gather).
    raise NotImplementedError("log_prob_categorical() is not implemented yet")


def log_prob_normal(x: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Log-density of N(mu, sigma²) at x: -(x - mu)² / (2 sigma²) - ½ log(2π sigma²).

    sigma is the standard deviation (> 0), not the variance.
    x, mu, sigma: tensors (or numbers) of broadcastable shapes; returns the broadcast shape.
    """
    # TODO: take the log of the Gaussian density term by term; do not drop the normalizing constant.
    raise NotImplementedError("log_prob_normal() is not implemented yet")


def sample_categorical(probs: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n draws from Categorical(probs) by inverse transform sampling.

    probs: (K,) probabilities summing to 1.
    generator: the torch.Generator every uniform draw comes from (same seed, same samples).
    Returns: a LongTensor of shape (n,) with values in [0, K). A category of probability 0 is
    never drawn.
    """
    # TODO: the cumulative sum of probs splits [0, total) into one interval per category, of
    #       length its probability; a uniform draw falls into category k with probability p_k.
    # TODO: find each draw's interval with torch.searchsorted; which `right` setting makes an
    #       empty interval (p_k = 0) impossible to land in, even for a draw on its boundary?
    # TODO: pass `generator=` to every random call, and mind rounding: the cumulative sum may
    #       end a little below 1.
    raise NotImplementedError("sample_categorical() is not implemented yet")


def sample_normal(mu: torch.Tensor, sigma: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n draws from N(mu, sigma²) by the Box-Muller transform of uniform draws.

    mu, sigma: tensors (or numbers) of broadcastable shapes; sigma is a standard deviation.
    generator: the torch.Generator every uniform draw comes from (same seed, same samples).
    Returns: a floating tensor of shape (n,) + broadcast shape of mu and sigma.
    """
    # TODO: two independent uniforms u1, u2 give a standard normal z = sqrt(-2 ln u1)·cos(2π u2);
    #       torch.rand can return exactly 0, so keep the log's argument away from 0.
    # TODO: then shift and scale z: sigma is a standard deviation.
    raise NotImplementedError("sample_normal() is not implemented yet")
