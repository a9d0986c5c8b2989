"""Learning from unlabelled data and from a shifted distribution.

Pseudo-labelling (as in FixMatch) trains on the model's own confident guesses: for each
unlabelled row, the predicted class (the argmax) becomes a hard target if the predicted
probability reaches a threshold. The target is a constant (no gradient flows into it), and the
loss is the cross-entropy of the confident rows summed and divided by the number of all
unlabelled rows, so a batch with few confident rows gives a small loss, not a noisy one.

Covariate shift: train on a source distribution, deploy on a target one. A classifier trained to
tell target inputs (label 1) from source inputs (label 0) outputs logit(x) = log p(target|x) −
log p(source|x), and with equally many examples of each, exp(logit(x)) estimates the density
ratio p_target(x) / p_source(x): the importance weight of a source example. Self-normalised
weights are rescaled to average 1 (compute them from the logits with a softmax: exp overflows).

The maximum mean discrepancy measures how far apart two samples x (m, D) and y (n, D) are with a
Gaussian kernel k(a, b) = exp(−‖a − b‖² / (2σ²)). Its unbiased estimate leaves out the i = j terms:

    MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m−1)) + Σ_{i≠j} k(y_i, y_j) / (n(n−1)) − 2 Σ_{i,j} k(x_i, y_j) / (mn)

Its average over samples from the same distribution is 0 (so a single estimate can be negative),
and it is positive on average when the distributions differ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pseudo_label_loss(logits_unlabeled: torch.Tensor, threshold: float = 0.95) -> torch.Tensor:
    """FixMatch-style pseudo-label loss. Returns a 0-d tensor.

    logits_unlabeled: (N, C). A row counts when its largest softmax probability is >= threshold;
    its target is its argmax, a constant. Loss = Σ over counted rows of cross-entropy / N (all rows).
    """
    # TODO: probabilities without gradient; confidence and argmax per row; a mask of confident rows.
    # TODO: per-row cross-entropy against the pseudo-labels, masked, summed, divided by N.
    ### BEGIN SOLUTION
    with torch.no_grad():
        probs = torch.softmax(logits_unlabeled, dim=-1)
        confidence, pseudo = probs.max(dim=-1)
        mask = (confidence >= threshold).to(logits_unlabeled.dtype)
    per_row = F.cross_entropy(logits_unlabeled, pseudo, reduction="none")
    return (per_row * mask).sum() / logits_unlabeled.shape[0]
    ### END SOLUTION


def importance_weights(domain_logits: torch.Tensor, self_normalize: bool = False) -> torch.Tensor:
    """Importance weights of source examples from a target-vs-source classifier's logits.

    domain_logits: (N,), logit of "target" for each source example. Returns (N,): exp(logit), or
    with self_normalize=True the same weights rescaled so that their mean is 1 (finite even for
    logits of ±1000).
    """
    # TODO: exp of the logits; the self-normalised version is N times a softmax of them.
    ### BEGIN SOLUTION
    if self_normalize:
        return torch.softmax(domain_logits, dim=0) * domain_logits.shape[0]
    return torch.exp(domain_logits)
    ### END SOLUTION


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """The unbiased estimate of MMD² between samples x (m, D) and y (n, D), m, n >= 2. Returns 0-d.

    Gaussian kernel exp(−‖a − b‖² / (2σ²)); the within-sample sums leave out the diagonal.
    """
    # TODO: the three kernel matrices (torch.cdist gives distances; square them).
    # TODO: within-sample means over i ≠ j, the cross mean over all pairs.
    ### BEGIN SOLUTION
    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-(torch.cdist(a, b) ** 2) / (2 * sigma**2))

    m, n = x.shape[0], y.shape[0]
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return within_x + within_y - 2 * k_xy.mean()
    ### END SOLUTION
