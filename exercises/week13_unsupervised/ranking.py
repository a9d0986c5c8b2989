"""Ranking metrics, implicit-feedback losses, latent-factor recommenders and association rules.

NDCG@k judges a ranking by the relevance of what it puts on top. Sort the items by score,
highest first (ties keep their original order: a stable sort), and add up the gains of the top
k, each discounted by its rank r = 1, 2, ...:

    DCG@k = Σ_{r=1..k} (2^rel_r − 1) / log₂(r + 1),        NDCG@k = DCG@k / IDCG@k,

where IDCG@k is the DCG@k of the best possible order (relevance sorted, highest first). k larger
than the number of items means all of them; an all-zero relevance gives NDCG 0, not 0/0.

Matrix factorisation gives user u a vector P[u] and item i a vector Q[i] (d latent factors each);
the predicted score is their dot product. With implicit feedback (clicks, no ratings), Bayesian
personalised ranking asks an observed item i to score above an unobserved item j for the same
user: loss = mean −log σ(x_ui − x_uj), computed with F.logsigmoid so that large gaps stay finite.

Association rules A → B in market baskets (A and B are itemsets; a transaction contains an itemset
when it contains every item of it):

    support = fraction of transactions containing A ∪ B,   confidence = support(A ∪ B) / support(A),
    lift = confidence / support(B) = support(A ∪ B) / (support(A) support(B)),

so lift is symmetric in A and B, and 1 when they occur independently.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F


def ndcg_at_k(scores: torch.Tensor, relevance: torch.Tensor, k: int) -> torch.Tensor:
    """NDCG@k of each ranking (module docstring). Returns scores.shape[:-1] (0-d for one ranking).

    scores: (..., n) floats; relevance: (..., n) non-negative (graded) relevance of the same
    items, any numeric dtype. Gain 2^rel − 1, discount log₂(rank + 1), ranks from 1; stable sort.
    """
    # TODO: order the relevance by descending score (stable), and the ideal order; keep the top k.
    # TODO: DCG of each; NDCG = DCG / IDCG, and 0 where IDCG is 0.
    raise NotImplementedError("ndcg_at_k() is not implemented yet")


def bpr_loss(x_ui: torch.Tensor, x_uj: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: mean of −log σ(x_ui − x_uj). x_ui, x_uj: (N,). Returns 0-d."""
    # TODO: one line with F.logsigmoid.
    raise NotImplementedError("bpr_loss() is not implemented yet")


def mf_predict(P: torch.Tensor, Q: torch.Tensor, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Predicted scores P[users] · Q[items], pair by pair. Returns users.shape.

    P: (n_users, d); Q: (n_items, d); users and items: integer tensors of the same shape, one
    (user, item) pair per position (not every user with every item).
    """
    # TODO: look up both factor rows for each pair and take their dot product.
    raise NotImplementedError("mf_predict() is not implemented yet")


def association_metrics(transactions: list[list[str]], A: list[str], B: list[str]) -> tuple[float, float, float]:
    """(support, confidence, lift) of the rule A → B over the transactions (module docstring).

    transactions: a non-empty list of baskets, each a list of items; A, B: non-empty itemsets as
    lists. When A ∪ B never occurs, confidence and lift are 0.0 (not a division by zero).
    """
    # TODO: count the baskets containing A, B and A ∪ B (every item, not any item).
    raise NotImplementedError("association_metrics() is not implemented yet")
