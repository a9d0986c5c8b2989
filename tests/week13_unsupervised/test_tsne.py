"""Hidden tests of week 13, tsne.py (★ optional): t-SNE's perplexity-calibrated affinities.

Each conditional row must have entropy log(perplexity) within 1e-5, sum to 1 and leave out the
point itself; the rows are compared with a bisection written here (the entropy-matched Gaussian
is unique, so any correct search finds the same row). The joint matrix must be symmetric, sum to
1, have a zero diagonal and equal (P_cond + P_condᵀ) / 2N.
"""

from __future__ import annotations

import math

import pytest
import torch

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("tsne")

CASES = [(3, 2, 1.5), (7, 4, 3.0), (30, 5, 10.0)]


def calibrated_row(sq_dists: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """The Gaussian row over sq_dists whose natural-log entropy is target_entropy (bisection on log β)."""
    lo, hi = -60.0, 60.0
    for _ in range(200):
        mid = (lo + hi) / 2
        w = torch.softmax(-math.exp(mid) * sq_dists, dim=0)
        h = float(-(w * torch.log(w.clamp(min=1e-300))).sum())
        if h > target_entropy:
            lo = mid
        else:
            hi = mid
    return torch.softmax(-math.exp((lo + hi) / 2) * sq_dists, dim=0)


def conditional(X: torch.Tensor, perplexity: float, squared: bool = True, target=None) -> torch.Tensor:
    n = X.shape[0]
    d = torch.cdist(X, X)
    if squared:
        d = d**2
    out = torch.zeros(n, n, dtype=X.dtype)
    goal = math.log(perplexity) if target is None else target
    for i in range(n):
        others = [j for j in range(n) if j != i]
        out[i, others] = calibrated_row(d[i, others], goal)
    return out


def row_entropy(P: torch.Tensor) -> torch.Tensor:
    return -torch.special.xlogy(P, P).sum(-1)


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Each row is a distribution over the OTHER points: it sums to 1 and p(i|i) = 0.")
@pytest.mark.parametrize("case", CASES, ids=str)
def test_conditional_affinities_rows_are_distributions_without_self(student, case):
    N, D, perp = case
    X = randn(N, D, seed=N)
    P = student.conditional_affinities(X, perp)
    assert_close(P.shape, torch.Size([N, N]), what="shape of P_cond")
    assert_close(P.diagonal(), torch.zeros(N, dtype=torch.float64), atol=1e-12, what="diagonal p(i|i)")
    assert_close(P.sum(-1), torch.ones(N, dtype=torch.float64), atol=1e-9, what="row sums")


@pytest.mark.points(3)
@pytest.mark.hint("Search each row's precision β until the row's entropy (natural log) equals log(perplexity); the entropy falls as β grows.")
@pytest.mark.parametrize("case", CASES, ids=str)
def test_conditional_affinities_rows_have_entropy_log_perplexity(student, case):
    N, D, perp = case
    X = randn(N, D, seed=10 + N)
    P = student.conditional_affinities(X, perp)
    H = row_entropy(P)
    want = torch.full((N,), math.log(perp), dtype=torch.float64)
    assert_close(H, want, atol=1e-5, what="row entropies", mistakes={
        "entropy matched log₂(perplexity) while measured in nats": torch.full((N,), math.log2(perp), dtype=torch.float64),
        "entropy matched the perplexity itself, not its log": torch.full((N,), float(perp), dtype=torch.float64),
    })


@pytest.mark.points(3)
@pytest.mark.hint("The affinities are Gaussian in the SQUARED distance, exp(−β‖xi − xj‖²), normalised over j ≠ i.")
@pytest.mark.parametrize("case", CASES[1:], ids=str)
def test_conditional_affinities_match_a_calibrated_gaussian(student, case):
    N, D, perp = case
    X = randn(N, D, seed=20 + N)
    want = conditional(X, perp)
    assert_close(student.conditional_affinities(X, perp), want, atol=1e-6, what="P_cond", mistakes={
        "the Gaussian uses distances, not squared distances": conditional(X, perp, squared=False),
    })


@pytest.mark.points(1)
@pytest.mark.hint("The precision adapts to the scale of the data: rescaling X changes β, not the affinities.")
def test_conditional_affinities_are_scale_free(student):
    X = randn(9, 3, seed=30)
    assert_close(student.conditional_affinities(X * 300.0, 4.0), conditional(X, 4.0), atol=1e-6,
                 what="P_cond of X·300 (vs of X)")


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("P is (P_cond + P_condᵀ) / 2N: symmetric, with a zero diagonal, and summing to 1 over all N² entries.")
@pytest.mark.parametrize("case", CASES, ids=str)
def test_tsne_affinities_are_symmetric_and_sum_to_one(student, case):
    N, D, perp = case
    X = randn(N, D, seed=40 + N)
    P = student.tsne_affinities(X, perp)
    assert_close(P.shape, torch.Size([N, N]), what="shape of P")
    assert_close(P.sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-9, what="sum of P",
                 mistakes={"P sums to 2: divide the symmetrised sum by 2N, not N": torch.tensor(2.0, dtype=torch.float64)})
    assert_close(P, P.T, atol=1e-12, what="P compared with its transpose")
    assert_close(P.diagonal(), torch.zeros(N, dtype=torch.float64), atol=1e-12, what="diagonal of P")


@pytest.mark.points(2)
@pytest.mark.hint("Symmetrise the conditional affinities: average p(j|i) and p(i|j), then divide by N.")
@pytest.mark.parametrize("case", CASES[1:], ids=str)
def test_tsne_affinities_match_the_symmetrised_conditionals(student, case):
    N, D, perp = case
    X = randn(N, D, seed=50 + N)
    cond = conditional(X, perp)
    want = (cond + cond.T) / (2 * N)
    assert_close(student.tsne_affinities(X, perp), want, atol=1e-7, what="P", mistakes={
        "P is not symmetrised: P_cond / N": cond / N,
    })
