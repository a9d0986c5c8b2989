"""Hidden tests of week 13, kmeans.py: k-means++ initialisation, Lloyd's step and k-means.

k-means++ is judged by statistics, never by its exact random stream: over thousands of seeded
runs on five designed points, the frequencies of the ordered choices must fit the exact D²
distribution (enumerated here) by a chi-square test, and the farthest-point rule, sampling ∝ D
and distances to the first centre only are named when they fit instead. Lloyd's step and k-means
are compared with torch.cdist recomputations; clusters are compared up to a permutation.
Generators cannot cross the transport, so probes build them from seeds.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("kmeans")

ALPHA = 1e-4
DESIGN = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [4.0, 0.0]], dtype=torch.float64)


def chi_square_critical_value(df: int, alpha: float = ALPHA) -> float:
    """Wilson-Hilferty upper alpha-quantile of chi-square(df) (scipy is not a dependency)."""
    z = Normal(0.0, 1.0).icdf(torch.tensor(1 - alpha, dtype=torch.float64)).item()
    c = 2 / (9 * df)
    return df * (1 - c + z * math.sqrt(c)) ** 3


def fits(counts: dict, probs: dict) -> bool:
    """Pearson's chi-square test of observed ordered choices against exact probabilities."""
    total = sum(counts.values())
    if any(key not in probs or probs[key] == 0 for key in counts):
        return False
    stat = sum((counts.get(key, 0) - total * p) ** 2 / (total * p) for key, p in probs.items() if p > 0)
    return stat <= chi_square_critical_value(max(1, sum(p > 0 for p in probs.values()) - 1))


def exact_choice_distribution(X: torch.Tensor, k: int, weight_rule) -> dict:
    """Probabilities of every ordered tuple of row indices when the first is uniform and each next
    is drawn with probability ∝ weight_rule(X, chosen) (enumerated, not sampled)."""
    n = X.shape[0]
    table: dict = {}

    def extend(chosen: list, prob: float) -> None:
        if len(chosen) == k:
            table[tuple(chosen)] = table.get(tuple(chosen), 0.0) + prob
            return
        weights = torch.ones(n, dtype=X.dtype) if not chosen else weight_rule(X, chosen)
        for row in range(n):
            if weights[row] > 0:
                extend(chosen + [row], prob * float(weights[row] / weights.sum()))

    extend([], 1.0)
    return table


def squared_to_nearest(X, chosen):
    return torch.cdist(X, X[chosen]).min(dim=1).values ** 2


def distance_to_nearest(X, chosen):
    return torch.cdist(X, X[chosen]).min(dim=1).values


def squared_to_first_only(X, chosen):
    return ((X - X[chosen[0]]) ** 2).sum(-1)


def farthest(X, chosen):
    d = torch.cdist(X, X[chosen]).min(dim=1).values
    return (d == d.max()).to(X.dtype) * (torch.arange(len(d)) == int(d.argmax())).to(X.dtype)


def _pp_many(m, X, k, seeds):
    return torch.stack([m.kmeans_pp_init(X, k, torch.Generator().manual_seed(s)) for s in seeds])


def _pp_once(m, X, k, seed):
    return m.kmeans_pp_init(X, k, torch.Generator().manual_seed(seed))


def _pp_generator_use(m, X, k):
    torch.manual_seed(0)
    first = m.kmeans_pp_init(X, k, torch.Generator().manual_seed(7))
    torch.manual_seed(12345)
    again = m.kmeans_pp_init(X, k, torch.Generator().manual_seed(7))
    others = [m.kmeans_pp_init(X, k, torch.Generator().manual_seed(s)) for s in range(8)]
    return {"same_seed_equal": bool(torch.equal(first, again)), "distinct": len({tuple(o.flatten().tolist()) for o in others})}


def _kmeans(m, X, k, iters, seed):
    centroids, labels, inertia = m.kmeans(X, k, iters, torch.Generator().manual_seed(seed))
    start = m.kmeans_pp_init(X, k, torch.Generator().manual_seed(seed))
    return {"centroids": centroids, "labels": labels, "inertia": inertia, "start": start}


def rows_to_indices(C: torch.Tensor, X: torch.Tensor) -> list:
    """The index in X of each row of C (-1 if a row is not a row of X)."""
    out = []
    for row in C:
        hits = (X == row).all(dim=1).nonzero()
        out.append(int(hits[0]) if len(hits) else -1)
    return out


def sort_rows(C: torch.Tensor) -> torch.Tensor:
    """The rows of C in lexicographic order (a permutation-invariant form of a set of centres)."""
    order = list(range(C.shape[0]))
    order.sort(key=lambda i: tuple(C[i].tolist()))
    return C[order]


def blobs(n_per: int, seed: int, dtype=torch.float64):
    means = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=dtype)
    noise = randn(3 * n_per, 2, seed=seed, dtype=dtype)
    labels = torch.arange(3).repeat_interleave(n_per)
    return means[labels] + noise, labels


def choice_counts(C_many: torch.Tensor, X: torch.Tensor) -> dict:
    counts: dict = {}
    for C in C_many:
        key = tuple(rows_to_indices(C, X))
        counts[key] = counts.get(key, 0) + 1
    return counts


# --- kmeans_pp_init --------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("Every centre k-means++ returns is one of the data points (a row of X), and no point is chosen twice.")
@pytest.mark.parametrize("sizes", [(1, 3, 1), (7, 5, 3), (40, 2, 5)], ids=str)
def test_kmeans_pp_init_returns_k_distinct_rows_of_X(student, sizes):
    N, D, k = sizes
    X = randn(N, D, seed=N)
    C = student.run(_pp_once, X, k, 3)
    assert_close(C.shape if isinstance(C, torch.Tensor) else C, torch.Size([k, D]), what="shape of the centres")
    if C.dtype != X.dtype:
        fail(f"the centres have dtype {C.dtype}, expected X's dtype {X.dtype}")
    picked = rows_to_indices(C, X)
    if -1 in picked:
        fail(f"centre {picked.index(-1)} is not a row of X: k-means++ chooses data points")
    if len(set(picked)) != k:
        fail(f"the same data point was chosen twice (rows {picked}): a chosen point has D² = 0")


@pytest.mark.points(4)
@pytest.mark.hint(
    "The first centre is a uniform draw; each next centre is a draw in which point x has probability "
    "D(x)² / Σ D², D(x) being the distance to the nearest centre chosen so far (torch.multinomial takes weights)."
)
def test_kmeans_pp_init_samples_the_second_centre_in_proportion_to_squared_distance(student):
    runs = 3000
    C_many = student.run(_pp_many, DESIGN, 2, list(range(runs)))
    counts = choice_counts(C_many, DESIGN)
    firsts: dict = {}
    for (a, b), c in counts.items():
        firsts.setdefault(a, set()).add(b)
    if len(firsts) > 1 and all(len(v) == 1 for v in firsts.values()):
        fail("initialization is deterministic given the first centre: the next centre is not sampled (farthest point?)")
    if fits(counts, exact_choice_distribution(DESIGN, 2, distance_to_nearest)):
        fail("the second centre is drawn in proportion to D, not D²")
    if not fits(counts, exact_choice_distribution(DESIGN, 2, squared_to_nearest)):
        first_freq = [round(sum(c for (a, _), c in counts.items() if a == i) / runs, 3) for i in range(5)]
        fail(f"over {runs} seeds the (first, second) choices do not fit k-means++ (first-centre frequencies {first_freq})")


@pytest.mark.points(3)
@pytest.mark.hint("D(x) is the distance to the NEAREST centre chosen so far, updated after every pick, not to the first one.")
def test_kmeans_pp_init_uses_the_nearest_chosen_centre_for_the_third(student):
    runs = 6000
    C_many = student.run(_pp_many, DESIGN, 3, list(range(runs)))
    counts = choice_counts(C_many, DESIGN)
    if fits(counts, exact_choice_distribution(DESIGN, 3, squared_to_first_only)):
        fail("the third centre is drawn with distances to the first centre only, not to the nearest chosen centre")
    if not fits(counts, exact_choice_distribution(DESIGN, 3, squared_to_nearest)):
        fail(f"over {runs} seeds the ordered choices of 3 centres do not fit the k-means++ (D²) distribution")


@pytest.mark.points(2)
@pytest.mark.hint("Draw every random number from the generator argument (generator=...), never from torch's global RNG.")
def test_kmeans_pp_init_draws_from_the_given_generator_only(student):
    result = student.run(_pp_generator_use, DESIGN, 3)
    if not result["same_seed_equal"]:
        fail("the same generator seed gave different centres after torch.manual_seed changed: the global RNG was used")
    if result["distinct"] < 3:
        fail(f"8 generator seeds gave only {result['distinct']} different initializations: the start is not random")


@pytest.mark.points(2)
@pytest.mark.hint("When every remaining D² is 0 (fewer distinct points than k), torch.multinomial cannot draw: fall back to a uniform draw.")
def test_kmeans_pp_init_handles_fewer_distinct_points_than_k(student):
    X = torch.tensor([[0.0, 1.0], [0.0, 1.0], [5.0, 5.0], [5.0, 5.0], [0.0, 1.0]], dtype=torch.float64)
    for seed in range(5):
        C = student.run(_pp_once, X, 3, seed)
        assert_close(C.shape if isinstance(C, torch.Tensor) else C, torch.Size([3, 2]), what="shape of the centres")
        if -1 in rows_to_indices(C, X):
            fail("a centre is not a row of X when there are fewer distinct points than k")
        if len({tuple(r) for r in C.tolist()}) != 2:
            fail("with 2 distinct points and k = 3, both distinct points must be among the centres")


# --- lloyd_step --------------------------------------------------------------------------------------


def torch_lloyd(X, C):
    labels = torch.cdist(X, C).argmin(dim=1)
    moved = C.clone()
    for j in range(C.shape[0]):
        if (labels == j).any():
            moved[j] = X[labels == j].mean(dim=0)
    return moved, labels


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Assign each point to its nearest centre, then move each centre to the mean of the points assigned to it.")
@pytest.mark.parametrize("sizes", [(1, 3, 1), (9, 5, 3), (30, 2, 4)], ids=str)
def test_lloyd_step_matches_a_cdist_recomputation(student, sizes):
    N, D, k = sizes
    X = randn(N, D, seed=20 + N)
    C = X[:k].clone() + 0.1
    want_C, want_labels = torch_lloyd(X, C)
    got = student.lloyd_step(X, C)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail("lloyd_step must return (new_centroids, labels)")
    assert_close(got[1], want_labels, what="labels")
    assert_close(got[0], want_C, what="new centroids")


@pytest.mark.points(2)
@pytest.mark.hint("A centre with no points has no mean: leave it where it is (dividing by a count of 0 gives NaN).")
def test_lloyd_step_keeps_an_empty_clusters_centre(student):
    X = randn(12, 2, seed=31)
    C = torch.cat([X[:2].clone(), torch.tensor([[100.0, -100.0]], dtype=torch.float64)])
    want_C, want_labels = torch_lloyd(X, C)
    got_C, got_labels = student.lloyd_step(X, C)
    nan_C = want_C.clone()
    nan_C[2] = float("nan")
    zero_C = want_C.clone()
    zero_C[2] = 0.0
    if isinstance(got_C, torch.Tensor) and got_C.shape == want_C.shape and torch.isnan(got_C).any():
        fail("the empty cluster's centre became NaN: a mean over no points")
    assert_close(got_C, want_C, what="centroids", mistakes={"the empty cluster's centre moved to the origin": zero_C})
    assert_close(got_labels, want_labels, what="labels")


@pytest.mark.points(1)
@pytest.mark.hint("On a tie, the point goes to the centre with the lowest index (argmin's rule); the duplicate is then empty.")
def test_lloyd_step_breaks_ties_to_the_lowest_index(student):
    X = randn(6, 3, seed=32)
    C = torch.stack([X[0], X[1], X[0]])
    want_C, want_labels = torch_lloyd(X, C)
    got_C, got_labels = student.lloyd_step(X, C)
    assert_close(got_labels, want_labels, what="labels with two identical centres")
    assert_close(got_C, want_C, what="centroids with two identical centres")


# --- kmeans ------------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Return (centroids (k, D), labels (N,) as a LongTensor, inertia (iters + 1,)): one inertia before each step and one after the last.")
@pytest.mark.parametrize("sizes", [(1, 3, 1, 2), (9, 5, 3, 4), (30, 2, 4, 6)], ids=str)
def test_kmeans_returns_the_stated_shapes(student, sizes):
    N, D, k, iters = sizes
    X = randn(N, D, seed=40 + N)
    got = student.run(_kmeans, X, k, iters, 1)
    assert_close(got["centroids"].shape, torch.Size([k, D]), what="centroids shape")
    assert_close(got["labels"].shape, torch.Size([N]), what="labels shape")
    if got["labels"].dtype != torch.int64:
        fail(f"labels have dtype {got['labels'].dtype}, expected torch.int64")
    assert_close(got["inertia"].shape, torch.Size([iters + 1]), what="inertia history shape")


@pytest.mark.points(3)
@pytest.mark.hint(
    "Inertia is the sum of SQUARED distances to the nearest centre; record it for the start and after each step. "
    "Neither the assignment nor the update can raise it."
)
@pytest.mark.parametrize("seed", [0, 1, 2], ids=str)
def test_kmeans_inertia_is_non_increasing_and_matches_cdist(student, seed):
    X = torch.cat([randn(25, 2, seed=50 + seed) * 2, randn(17, 2, seed=60 + seed) + 4])
    got = student.run(_kmeans, X, 4, 6, seed)
    C, labels, inertia = got["centroids"], got["labels"], got["inertia"]
    d = torch.cdist(X, C)
    final = (d.min(dim=1).values ** 2).sum()
    start = (torch.cdist(X, got["start"]).min(dim=1).values ** 2).sum()
    assert_close(inertia[-1], final, rtol=1e-9, atol=1e-9, what="final inertia",
                 mistakes={"inertia sums distances, not squared distances": d.min(dim=1).values.sum()})
    assert_close(inertia[0], start, rtol=1e-9, atol=1e-9, what="inertia[0] (of kmeans_pp_init with the same seed)")
    rises = (inertia[1:] > inertia[:-1] + 1e-9).nonzero()
    if len(rises):
        t = int(rises[0]) + 1
        fail(f"inertia rose at step {t}: {float(inertia[t - 1]):.6g} -> {float(inertia[t]):.6g}")
    assert_close(labels, d.argmin(dim=1), what="labels (the nearest FINAL centre of each point)")


@pytest.mark.points(3)
@pytest.mark.hint("After enough steps on well-separated blobs, each centre is the mean of its blob and another step changes nothing.")
@pytest.mark.parametrize("n_per", [1, 7, 20], ids=str)
def test_kmeans_converges_to_the_blob_means(student, reference, n_per):
    X, truth = blobs(n_per, seed=70 + n_per)
    got = student.run(_kmeans, X, 3, 10, 5)
    want = torch.stack([X[truth == j].mean(dim=0) for j in range(3)])
    assert_close(sort_rows(got["centroids"]), sort_rows(want), rtol=1e-9, atol=1e-9, what="centres (up to order)")
    assert_close(sort_rows(got["centroids"]), sort_rows(reference.run(_kmeans, X, 3, 10, 5)["centroids"]),
                 rtol=1e-9, atol=1e-9, what="centres vs the reference (up to order)")
    same = got["labels"][:, None] == got["labels"][None, :]
    if not torch.equal(same, truth[:, None] == truth[None, :]):
        fail("the clusters found are not the three blobs")


@pytest.mark.points(2)
@pytest.mark.hint("An empty cluster (here: duplicate centres over only 2 distinct points) must keep its centre, never NaN.")
def test_kmeans_survives_an_empty_cluster(student):
    X = torch.tensor([[0.0, 1.0]] * 4 + [[5.0, 5.0]] * 3, dtype=torch.float64)
    for seed in range(4):
        got = student.run(_kmeans, X, 3, 3, seed)
        if not torch.isfinite(got["centroids"]).all():
            fail("NaN or inf in the centroids when a cluster is empty")
        assert_close(got["inertia"], torch.zeros(4, dtype=torch.float64), atol=1e-12, what="inertia history")


@pytest.mark.points(2)
@pytest.mark.hint("An outlier may grab a centre of its own; the other centres still settle on the blobs, and nothing is NaN.")
def test_kmeans_with_an_outlier_stays_finite_and_monotone(student):
    X, _ = blobs(8, seed=80)
    X = torch.cat([X, torch.tensor([[300.0, -300.0]], dtype=torch.float64)])
    for seed in range(3):
        got = student.run(_kmeans, X, 4, 8, seed)
        if not torch.isfinite(got["centroids"]).all():
            fail("NaN or inf in the centroids with an outlier in the data")
        inertia = got["inertia"]
        if (inertia[1:] > inertia[:-1] + 1e-9).any():
            fail("inertia rose during the iterations with an outlier in the data")
        want = (torch.cdist(X, got["centroids"]).min(dim=1).values ** 2).sum()
        assert_close(inertia[-1], want, rtol=1e-9, atol=1e-9, what="final inertia with an outlier")
