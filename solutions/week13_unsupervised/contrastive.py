"""Contrastive losses for self-supervised and metric learning: InfoNCE, NT-Xent and the triplet loss.

Two views z1[i] and z2[i] of the same example should embed close together and far from the
views of other examples. InfoNCE (CPC, MoCo) treats this as classification: L2-normalise the
embeddings, take the cosine similarities of every z1[i] with every z2[j] divided by a temperature
τ, and ask z1[i] to pick out z2[i] among the N candidates with a cross-entropy:

    info_nce = mean_i −log softmax_j(ẑ1[i]·ẑ2[j] / τ)[j = i].

A small τ sharpens the softmax (τ = 0.1 is typical), so the logits grow up to 1/τ: the
cross-entropy must be computed in log space.

NT-Xent (SimCLR) is the symmetric version: all 2N views are candidates for each other. Row a of
the (2N, 2N) similarity matrix asks view a to find its partner (a + N, or a − N) among the other
2N − 1 views; its similarity with itself is not a candidate, so it is set to −inf before the
softmax (not to 0: exp(0) is not nothing). The loss is the mean over the 2N rows.

The triplet loss pulls an anchor a towards a positive p and pushes it from a negative n until
the gap is at least a margin: mean_i max(0, ‖a_i − p_i‖ − ‖a_i − n_i‖ + margin), with Euclidean
(not squared) distances, as F.triplet_margin_loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """InfoNCE of the N positive pairs (z1[i], z2[i]) against the other z2[j]. Returns a 0-d tensor.

    z1, z2: (N, D) embeddings, not yet normalised. temperature: τ > 0, the logits are cos / τ.
    """
    # TODO: L2-normalise both, (N, N) similarities divided by τ, cross-entropy with targets 0..N−1.
    ### BEGIN SOLUTION
    z1 = F.normalize(z1, dim=-1)
    z2 = F.normalize(z2, dim=-1)
    logits = z1 @ z2.T / temperature
    targets = torch.arange(z1.shape[0], device=z1.device)
    return F.cross_entropy(logits, targets)
    ### END SOLUTION


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's NT-Xent loss over the 2N views [z1; z2]. Returns a 0-d tensor.

    z1, z2: (N, D), N >= 1. Row a of the (2N, 2N) cosine similarities / τ, its diagonal set to
    −inf, is a classification whose right answer is a's partner: a + N for a < N, a − N otherwise.
    """
    # TODO: normalise, stack the 2N views, similarities / τ, mask the diagonal with −inf.
    # TODO: cross-entropy against each row's partner, mean over the 2N rows.
    ### BEGIN SOLUTION
    n = z1.shape[0]
    views = F.normalize(torch.cat([z1, z2]), dim=-1)
    logits = views @ views.T / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=views.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    partners = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(views.device)
    return F.cross_entropy(logits, partners)
    ### END SOLUTION


def triplet_loss(a: torch.Tensor, p: torch.Tensor, n: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Mean over the N triplets of max(0, ‖a − p‖ − ‖a − n‖ + margin). Returns a 0-d tensor.

    a, p, n: (N, D). Distances are Euclidean, not squared. (F.triplet_margin_loss adds 1e-6 to
    each difference before its norm; the tests allow for that, so you need not.)
    """
    # TODO: the two distances per row, the hinge, the mean.
    ### BEGIN SOLUTION
    d_pos = (a - p).norm(dim=-1)
    d_neg = (a - n).norm(dim=-1)
    return torch.clamp(d_pos - d_neg + margin, min=0).mean()
    ### END SOLUTION
