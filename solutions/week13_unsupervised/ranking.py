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
    ### BEGIN SOLUTION
    relevance = relevance.to(scores.dtype)
    k = min(k, scores.shape[-1])
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
    ranked = torch.gather(relevance, -1, order)[..., :k]
    ideal = torch.sort(relevance, dim=-1, descending=True).values[..., :k]
    discount = torch.log2(torch.arange(2, k + 2, dtype=scores.dtype))
    dcg = ((2**ranked - 1) / discount).sum(-1)
    idcg = ((2**ideal - 1) / discount).sum(-1)
    return torch.where(idcg > 0, dcg / torch.where(idcg > 0, idcg, torch.ones_like(idcg)), torch.zeros_like(dcg))
    ### END SOLUTION


def bpr_loss(x_ui: torch.Tensor, x_uj: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: mean of −log σ(x_ui − x_uj). x_ui, x_uj: (N,). Returns 0-d."""
    # TODO: one line with F.logsigmoid.
    ### BEGIN SOLUTION
    return -F.logsigmoid(x_ui - x_uj).mean()
    ### END SOLUTION


def mf_predict(P: torch.Tensor, Q: torch.Tensor, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Predicted scores P[users] · Q[items], pair by pair. Returns users.shape.

    P: (n_users, d); Q: (n_items, d); users and items: integer tensors of the same shape, one
    (user, item) pair per position (not every user with every item).
    """
    # TODO: look up both factor rows for each pair and take their dot product.
    ### BEGIN SOLUTION
    return (P[users] * Q[items]).sum(-1)
    ### END SOLUTION


def association_metrics(transactions: list[list[str]], A: list[str], B: list[str]) -> tuple[float, float, float]:
    """(support, confidence, lift) of the rule A → B over the transactions (module docstring).

    transactions: a non-empty list of baskets, each a list of items; A, B: non-empty itemsets as
    lists. When A ∪ B never occurs, confidence and lift are 0.0 (not a division by zero).
    """
    # TODO: count the baskets containing A, B and A ∪ B (every item, not any item).
    ### BEGIN SOLUTION
    baskets = [set(t) for t in transactions]
    total = len(baskets)
    items_a, items_b = set(A), set(B)
    support_a = sum(items_a <= t for t in baskets) / total
    support_b = sum(items_b <= t for t in baskets) / total
    support_ab = sum((items_a | items_b) <= t for t in baskets) / total
    if support_ab == 0:
        return support_ab, 0.0, 0.0
    confidence = support_ab / support_a
    return support_ab, confidence, confidence / support_b
    ### END SOLUTION
