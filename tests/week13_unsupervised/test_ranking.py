"""Hidden tests of week 13, ranking.py: NDCG@k, the BPR loss, matrix-factorisation scores and
association-rule metrics.

NDCG is compared with a brute-force definition written here (a Python loop over ranks, gain
2^rel − 1, discount log₂(rank + 1), ties in their original order); BPR with −F.logsigmoid; the MF
scores with torch.einsum over gathered rows, their gradients with autograd's, and a short fit of a
low-rank matrix; the association metrics with counts of a toy basket set.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, rand_labels, randn

pytestmark = pytest.mark.exercise("ranking")


def ndcg_brute(scores, rel, k, gain="exp", ideal_all=False, ascending=False, tie_reverse=False):
    """NDCG@k of one ranking, by the definition (Python loops)."""
    s, r = scores.tolist(), rel.tolist()
    n = len(s)
    idx = list(range(n))
    if tie_reverse:
        idx.sort(key=lambda i: (s[i], i))
        idx.reverse()
    else:
        idx.sort(key=lambda i: (s[i] if ascending else -s[i], i))
    g = (lambda v: 2.0**v - 1) if gain == "exp" else (lambda v: float(v))
    top = min(k, n)
    dcg = sum(g(r[i]) / math.log2(rank + 2) for rank, i in enumerate(idx[:top]))
    ideal = sorted(r, reverse=True)
    idcg = sum(g(v) / math.log2(rank + 2) for rank, v in enumerate(ideal[: (n if ideal_all else top)]))
    return 0.0 if idcg == 0 else dcg / idcg


def ndcg_batched(scores, rel, k, **kw):
    flat_s, flat_r = scores.reshape(-1, scores.shape[-1]), rel.reshape(-1, rel.shape[-1])
    out = torch.tensor([ndcg_brute(a, b, k, **kw) for a, b in zip(flat_s, flat_r)], dtype=scores.dtype)
    return out.reshape(scores.shape[:-1])


def rank_inputs(shape, seed):
    scores = randn(*shape, seed=seed)
    rel = rand_labels(*shape, num_classes=4, seed=seed + 1)
    return scores, rel


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "Sort items by score, highest first; add (2^rel − 1) / log₂(rank + 1) over the top k (ranks from 1); divide by "
    "the same sum for the best possible order."
)
@pytest.mark.parametrize("shape", [(1,), (7,), (2, 3, 6)], ids=str)
@pytest.mark.parametrize("k", [1, 3])
def test_ndcg_at_k_matches_the_definition(student, shape, k):
    # + 4: seed 20 gave the 7 items of NDCG@3 two relevant ones, none left past the ideal top 3
    scores, rel = rank_inputs(shape, seed=len(shape) * 10 + shape[-1] + k + 4)
    want = ndcg_batched(scores, rel, k)
    got = student.ndcg_at_k(scores, rel, k)
    if isinstance(got, torch.Tensor) and torch.isnan(got).any():
        fail("NaN in NDCG: is the discount log₂(rank + 1) with ranks from 1?")
    mistakes = {}
    if shape[-1] > 1:  # one item is first in any order, and its gain cancels between the DCG and the ideal DCG
        mistakes["linear gain rel was used; the gain here is 2^rel − 1"] = ndcg_batched(scores, rel, k, gain="linear")
        mistakes["items ranked by ascending score: the highest score comes first"] = ndcg_batched(
            scores, rel, k, ascending=True
        )
    if k < shape[-1]:  # a top k that holds every item is all the items
        mistakes["the ideal DCG summed over all items, not the top k"] = ndcg_batched(scores, rel, k, ideal_all=True)
    assert_close(got, want, what=f"NDCG@{k} of scores {tuple(shape)}", mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint("Tied scores keep their original order (a stable sort, earlier item first).")
def test_ndcg_at_k_keeps_tied_items_in_their_original_order(student):
    scores = torch.tensor([0.2, 1.0, 1.0, 1.0, 0.5], dtype=torch.float64)
    rel = torch.tensor([2, 0, 1, 3, 0])
    want = torch.tensor(ndcg_brute(scores, rel, 2), dtype=torch.float64)
    assert_close(student.ndcg_at_k(scores, rel, 2), want, what="NDCG@2 with tied scores", mistakes={
        "tied items were taken in reverse order": torch.tensor(ndcg_brute(scores, rel, 2, tie_reverse=True), dtype=torch.float64)})


@pytest.mark.points(1)
@pytest.mark.hint("k larger than the number of items means every item is ranked.")
def test_ndcg_at_k_with_k_larger_than_the_list(student):
    scores, rel = rank_inputs((3, 5), seed=40)
    assert_close(student.ndcg_at_k(scores, rel, 9), ndcg_batched(scores, rel, 5), what="NDCG@9 of 5 items")


@pytest.mark.points(1)
@pytest.mark.hint("With no relevant item the ideal DCG is 0; NDCG is defined as 0 there, not 0/0.")
def test_ndcg_at_k_of_all_zero_relevance_is_zero(student):
    scores, rel = rank_inputs((3, 4), seed=50)
    rel[1] = 0
    got = student.ndcg_at_k(scores, rel, 3)
    if isinstance(got, torch.Tensor) and torch.isnan(got).any():
        fail("NaN for a list with no relevant item: 0/0")
    assert_close(got, ndcg_batched(scores, rel, 3), what="NDCG with an all-zero relevance row")


# --- bpr_loss ---------------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("BPR wants the observed item i above the unobserved j: mean of −log σ(x_ui − x_uj).")
@pytest.mark.parametrize("n", [1, 7, 30], ids=str)
def test_bpr_loss_matches_logsigmoid(student, n):
    x_ui, x_uj = randn(n, seed=60 + n, scale=2.0), randn(n, seed=61 + n, scale=2.0)
    want = -F.logsigmoid(x_ui - x_uj).mean()
    mistakes = {"the difference is reversed: x_uj − x_ui": -F.logsigmoid(x_uj - x_ui).mean()}
    if n > 1:  # one pair: its sum is its mean
        mistakes["summed over pairs; the loss is the mean"] = -F.logsigmoid(x_ui - x_uj).sum()
    assert_close(student.bpr_loss(x_ui, x_uj), want, what="BPR loss", mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint("log(sigmoid(z)) is −inf once σ rounds to 0; F.logsigmoid stays finite.")
def test_bpr_loss_is_finite_for_large_gaps_in_float32(student):
    x_ui, x_uj = torch.tensor([-150.0, 3.0]), torch.tensor([150.0, 0.0])
    got = student.bpr_loss(x_ui, x_uj)
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        fail("BPR loss is inf at a score gap of −300: log of a sigmoid that rounded to 0")
    assert_close(got, -F.logsigmoid(x_ui - x_uj).mean(), what="BPR loss at a gap of −300")


def _bpr_grads(m, a, b):
    a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
    m.bpr_loss(a, b).backward()
    return [a.grad, b.grad]


@pytest.mark.points(1)
@pytest.mark.hint("Build the loss from torch operations so autograd can push i up and j down.")
def test_bpr_loss_gradients_match_autograd(student):
    a, b = randn(9, seed=70), randn(9, seed=71)
    la, lb = a.clone().requires_grad_(), b.clone().requires_grad_()
    (-F.logsigmoid(la - lb).mean()).backward()
    assert_close(student.run(_bpr_grads, a, b), [la.grad, lb.grad], what="gradients of x_ui, x_uj")


# --- mf_predict -------------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("One score per (user, item) pair: the dot product of the user's row of P with the item's row of Q.")
@pytest.mark.parametrize("shape", [(1,), (7,), (2, 3)], ids=str)
def test_mf_predict_matches_gathered_dot_products(student, shape):
    P, Q = randn(5, 4, seed=80), randn(6, 4, seed=81)
    users, items = rand_labels(*shape, num_classes=5, seed=82), rand_labels(*shape, num_classes=6, seed=83)
    want = torch.einsum("...d,...d->...", P[users], Q[items])
    got = student.mf_predict(P, Q, users, items)
    assert_close(got, want, what=f"scores of {tuple(shape)} pairs")


def _mf_grads(m, P, Q, users, items):
    P, Q = P.clone().requires_grad_(), Q.clone().requires_grad_()
    weights = torch.linspace(-1.0, 2.0, users.numel(), dtype=P.dtype).reshape(users.shape)
    (m.mf_predict(P, Q, users, items) * weights).sum().backward()
    return [P.grad, Q.grad]


@pytest.mark.points(2)
@pytest.mark.hint("Only the rows of the users and items in the pairs receive gradient, and a repeated user accumulates it.")
def test_mf_predict_gradients_match_autograd(student):
    P, Q = randn(5, 3, seed=84), randn(6, 3, seed=85)
    users, items = torch.tensor([0, 2, 2, 4]), torch.tensor([5, 1, 0, 1])
    lP, lQ = P.clone().requires_grad_(), Q.clone().requires_grad_()
    w = torch.linspace(-1.0, 2.0, 4, dtype=torch.float64)
    ((lP[users] * lQ[items]).sum(-1) * w).sum().backward()
    assert_close(student.run(_mf_grads, P, Q, users, items), [lP.grad, lQ.grad], what="gradients of P, Q")


def _mf_fit(m, R, mask, steps, lr):
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g = torch.Generator().manual_seed(0)
        P = (0.3 * torch.randn(R.shape[0], 2, generator=g, dtype=R.dtype)).requires_grad_()
        Q = (0.3 * torch.randn(R.shape[1], 2, generator=g, dtype=R.dtype)).requires_grad_()
        users, items = mask.nonzero(as_tuple=True)
        losses = []
        for _ in range(steps):
            loss = ((m.mf_predict(P, Q, users, items) - R[users, items]) ** 2).mean()
            losses.append(float(loss.detach()))
            P.grad = Q.grad = None
            loss.backward()
            with torch.no_grad():
                P -= lr * P.grad
                Q -= lr * Q.grad
        full = m.mf_predict(P.detach(), Q.detach(), *torch.meshgrid(torch.arange(R.shape[0]), torch.arange(R.shape[1]), indexing="ij"))
        return {"losses": losses, "full": full}
    finally:
        torch.set_num_threads(old)


@pytest.mark.points(2)
@pytest.mark.hint("Gradient descent on the observed entries through your scores should recover a rank-2 matrix, held-out entries too.")
def test_mf_predict_fits_a_low_rank_matrix(student):
    g = torch.Generator().manual_seed(90)
    R = torch.randn(8, 2, generator=g, dtype=torch.float64) @ torch.randn(2, 7, generator=g, dtype=torch.float64)
    mask = torch.rand(8, 7, generator=g) < 0.75
    got = student.run(_mf_fit, R, mask, 1500, 0.5)
    losses = got["losses"]
    if not losses[-1] < 1e-3 * losses[0]:
        fail(f"the training loss only fell from {losses[0]:.4g} to {losses[-1]:.4g}")
    held_out = (got["full"] - R)[~mask].abs().max()
    if held_out > 0.05:
        fail(f"held-out entries are off by up to {float(held_out):.3g}")


# --- association_metrics ---------------------------------------------------------------------------------

BASKETS = [
    ["bread", "milk"],
    ["bread", "diapers", "beer", "eggs"],
    ["milk", "diapers", "beer", "cola"],
    ["bread", "milk", "diapers", "beer"],
    ["bread", "milk", "diapers", "cola"],
    ["milk", "diapers"],  # diapers in 5 baskets, beer in 4: dividing by the wrong support shows
    ["bread", "beer"],
]


def hand_counts(baskets, A, B, any_item=False):
    def has(basket, items):
        return any(i in basket for i in items) if any_item else all(i in basket for i in items)

    n = len(baskets)
    a = sum(has(b, A) for b in baskets) / n
    bb = sum(has(b, B) for b in baskets) / n
    ab = sum(has(b, A) and has(b, B) for b in baskets) / n
    return a, bb, ab


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("support = share of baskets with every item of A and of B; confidence = support(A∪B)/support(A); lift = confidence/support(B).")
@pytest.mark.parametrize("rule", [(["diapers"], ["beer"]), (["bread", "milk"], ["diapers"]), (["beer"], ["bread", "diapers"])], ids=str)
def test_association_metrics_match_hand_counts(student, rule):
    A, B = rule
    a, b, ab = hand_counts(BASKETS, A, B)
    want = (ab, ab / a, ab / (a * b))
    got = student.association_metrics(BASKETS, A, B)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        fail("association_metrics must return (support, confidence, lift)")
    names = ("support", "confidence", "lift")
    mistakes = {
        "support": {"support counted baskets with A alone, not A ∪ B": a, "support is a count, not a fraction of baskets": ab * len(BASKETS)},
        "confidence": {"confidence divided by support(B), not support(A)": ab / b},
        "lift": {"lift divided by support(A) twice, not by support(A)·support(B)": ab / (a * a)},
    }
    for name, value, right in zip(names, got, want):
        assert_close(float(value), right, atol=1e-12, what=f"{name} of {A} → {B}",
                     mistakes=mistakes[name])
    ai, bi, abi = hand_counts(BASKETS, A, B, any_item=True)
    if len(A) + len(B) > 2 and math.isclose(float(got[0]), abi) and not math.isclose(abi, ab):
        fail("a basket was counted when it held ANY item of an itemset, not every item")


@pytest.mark.points(1)
@pytest.mark.hint("A basket contains an itemset only when it holds every one of its items.")
def test_association_metrics_require_every_item_of_an_itemset(student):
    A, B = ["bread", "cola"], ["milk"]
    a, b, ab = hand_counts(BASKETS, A, B)
    _, _, any_ab = hand_counts(BASKETS, A, B, any_item=True)
    union_any = sum(any(i in b for i in A + B) for b in BASKETS) / len(BASKETS)
    got = student.association_metrics(BASKETS, A, B)
    if math.isclose(float(got[0]), any_ab) or math.isclose(float(got[0]), union_any):
        fail("a basket was counted when it held ANY item of an itemset, not every item")
    assert_close(float(got[0]), ab, atol=1e-12, what="support of {bread, cola} → {milk}")


@pytest.mark.points(1)
@pytest.mark.hint("Lift is support(A∪B) / (support(A)·support(B)): swapping A and B cannot change it.")
def test_association_lift_is_symmetric(student):
    forward = student.association_metrics(BASKETS, ["bread"], ["diapers", "beer"])
    backward = student.association_metrics(BASKETS, ["diapers", "beer"], ["bread"])
    assert_close(float(forward[2]), float(backward[2]), atol=1e-12, what="lift of B → A (vs A → B)")
    assert_close(float(forward[0]), float(backward[0]), atol=1e-12, what="support of B → A (vs A → B)")


@pytest.mark.points(1)
@pytest.mark.hint("When A and B never occur together, confidence and lift are 0.0, not a division by zero.")
def test_association_metrics_when_the_itemsets_never_co_occur(student):
    got = student.association_metrics(BASKETS, ["eggs"], ["cola"])
    assert_close([float(v) for v in got], [0.0, 0.0, 0.0], what="(support, confidence, lift)")
    got = student.association_metrics(BASKETS, ["caviar"], ["milk"])
    assert_close([float(v) for v in got], [0.0, 0.0, 0.0], what="(support, confidence, lift) of an item never bought")
