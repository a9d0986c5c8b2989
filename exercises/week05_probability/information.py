"""Information theory on discrete distributions: surprise, entropy, cross-entropy, KL and mutual information.

A distribution is a tensor of probabilities that sums to 1 along one dimension (the last, unless
`dim` says otherwise); every other dimension is a batch dimension. Results are in nats (natural
log) unless `base` asks for another unit (base 2 gives bits). By convention 0·log 0 = 0, and a
zero in q where p > 0 makes H(p, q) and KL(p‖q) infinite.
"""

from __future__ import annotations

import math

import torch


def self_information(p: torch.Tensor, base: float = math.e) -> torch.Tensor:
    """Surprise of an outcome of probability p: I(p) = -log p.

    p: probabilities, any shape.
    Returns: a tensor of p's shape, in nats unless `base` is given (p = 0 gives +inf).
    """
    # TODO: rare outcomes are surprising: the result grows as p shrinks and is 0 when p = 1.
    # TODO: change of base: log_b(x) = ln(x) / ln(b).
    raise NotImplementedError("self_information() is not implemented yet")


def entropy(p: torch.Tensor, dim: int = -1, base: float = math.e) -> torch.Tensor:
    """Shannon entropy H(p) = -sum_i p_i log p_i along `dim`.

    p: probabilities, any shape, summing to 1 along `dim`.
    Returns: p's shape without `dim`, in nats (base e) unless `base` is given.
    """
    # TODO: sum -p·log p along `dim`; by convention 0·log 0 = 0 (what does log(0) give?).
    # TODO: change of base: log_b(x) = ln(x) / ln(b).
    raise NotImplementedError("entropy() is not implemented yet")


def cross_entropy(p: torch.Tensor, q: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Cross-entropy H(p, q) = -sum_i p_i log q_i along `dim`, in nats.

    The average surprise of outcomes drawn from p when they are coded with the model q.
    p, q: probabilities of the same (or broadcastable) shape, each summing to 1 along `dim`.
    Returns: the broadcast shape without `dim`. Terms with p_i = 0 contribute 0;
    q_i = 0 where p_i > 0 gives +inf.
    """
    # TODO: which of the two distributions weights the terms, and which one is inside the log?
    # TODO: a term with p_i = 0 must contribute exactly 0, even when q_i = 0 too.
    raise NotImplementedError("cross_entropy() is not implemented yet")


def kl_divergence(p: torch.Tensor, q: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Kullback-Leibler divergence KL(p‖q) = sum_i p_i log(p_i / q_i) along `dim`, in nats.

    The extra nats paid for coding samples of p with a code built for q; it is >= 0, is 0 only
    when p = q, and is not symmetric in its arguments.
    p, q: probabilities of the same (or broadcastable) shape, each summing to 1 along `dim`.
    Returns: the broadcast shape without `dim`. Terms with p_i = 0 contribute 0;
    q_i = 0 where p_i > 0 gives +inf.
    """
    # TODO: write the log of the ratio as a difference of logs, each term weighted by p_i.
    # TODO: the 0·log 0 = 0 convention applies to both logs (a 0/0 ratio would give NaN).
    raise NotImplementedError("kl_divergence() is not implemented yet")


def kl_normal(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """KL(N(mu1, sigma1²) ‖ N(mu2, sigma2²)) between two univariate normals, in nats.

    sigma1 and sigma2 are standard deviations (> 0), not variances.
    mu1, sigma1, mu2, sigma2: tensors (or numbers) of broadcastable shapes.
    Returns: a tensor of the broadcast shape.
    """
    # TODO: integrate p(x) log(p(x)/q(x)) for two Gaussian densities by hand: the result
    #       has a log-ratio of the scales, a variance ratio and a squared gap between the means.
    # TODO: check it with kl_normal(m, s, m, s) == 0.
    raise NotImplementedError("kl_normal() is not implemented yet")


def mutual_information(joint: torch.Tensor) -> torch.Tensor:
    """Mutual information I(X; Y) = KL(p(x, y) ‖ p(x) p(y)) of a joint table, in nats.

    joint: (..., X, Y) probabilities p(x, y) with any leading batch shape. A table that does not
    sum to 1 over its last two dims (e.g. counts) is normalized first.
    Returns: the batch shape (a 0-d tensor for a single (X, Y) table). Zero cells contribute 0.
    """
    # TODO: normalize the table over its last two dims, then get the marginals p(x) and p(y)
    #       by summing out the other variable (keep the dims so that they broadcast).
    # TODO: compare the joint with the product of its marginals, with the 0·log 0 = 0 convention.
    raise NotImplementedError("mutual_information() is not implemented yet")
