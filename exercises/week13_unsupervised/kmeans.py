"""k-means clustering with k-means++ initialisation.

k-means looks for k centres that make the inertia, the sum over points of the squared distance to
the nearest centre, small. Lloyd's algorithm alternates two steps, neither of which can raise the
inertia: assign every point to its nearest centre, then move every centre to the mean of its
points. A centre that is left with no points (an empty cluster, e.g. a centre that only an
outlier was near) has no mean; here it stays where it is, so the result never holds NaN.

k-means++ picks the starting centres: the first is a data point drawn uniformly at random, and
each next one is a data point drawn with probability proportional to D(x)², the squared distance
from x to the nearest centre chosen so far. It is a draw, not a choice: taking the farthest point
instead makes the start deterministic and lets one outlier claim a centre every time.

Shapes: X is (N, D) of N points; centres are (k, D); labels are (N,) integers in [0, k).
"""

from __future__ import annotations

import torch


def kmeans_pp_init(X: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k starting centres (k, D), rows of X, drawn by k-means++ with `generator` (module docstring).

    X: (N, D) with N >= k. Draw every random number from `generator` (torch.randint,
    torch.multinomial and torch.rand all take generator=...), never from torch's global RNG.
    If every remaining D² is 0 (fewer distinct points than k), draw the next centre uniformly.
    """
    # TODO: the first centre is a uniformly drawn row of X.
    # TODO: then, k - 1 times: D² to the nearest chosen centre, draw a row with probability ∝ D².
    raise NotImplementedError("kmeans_pp_init() is not implemented yet")


def lloyd_step(X: torch.Tensor, centroids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of Lloyd's algorithm: assign, then move. Returns (new_centroids (k, D), labels (N,)).

    labels[i] is the index of the centre nearest to X[i] (the lowest index on a tie) among the
    given `centroids`; new_centroids[j] is the mean of the points labelled j, or centroids[j]
    unchanged when no point is labelled j.
    """
    # TODO: squared distances (N, k), argmin per point.
    # TODO: per-cluster sums and counts (index_add_ or one_hot); empty clusters keep their centre.
    raise NotImplementedError("lloyd_step() is not implemented yet")


def kmeans(
    X: torch.Tensor, k: int, iters: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """k-means++ start, then `iters` Lloyd steps. Returns (centroids, labels, inertia).

    centroids: (k, D) after the last step. labels: (N,) LongTensor, each point's nearest final
    centre. inertia: (iters + 1,) in X's dtype; inertia[t] is the inertia of the centres after t
    steps (inertia[0] of the k-means++ start), Σ_i min_j ‖X[i] − centroids[j]‖².
    """
    # TODO: start from kmeans_pp_init(X, k, generator); record the inertia before every step
    # TODO: and after the last one; the labels go with the final centres.
    raise NotImplementedError("kmeans() is not implemented yet")
