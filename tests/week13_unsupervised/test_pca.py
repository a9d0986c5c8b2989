"""Hidden tests of week 13, pca.py: PCA by the SVD and anomaly scores by reconstruction error.

Components are compared with the rows of Vᵀ from torch.linalg.svd of the centred data, up to the
sign of each row, on data offset by 1e3 (so forgetting to centre shows); explained variance ratios
with the normalised eigenvalues of torch.cov. Anomaly scores are compared with the residual of a
projection computed here, on a state built here, so a bug in pca does not fail them too.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("pca")

SIZES = [(2, 3, 1), (7, 5, 3), (40, 6, 6)]


def offset_data(N, D, seed, dtype=torch.float64):
    """Correlated data of N rows far from the origin (offset 1e3), with distinct variances."""
    mix = randn(D, D, seed=seed + 1, dtype=dtype) + torch.eye(D, dtype=dtype) * 2
    scales = torch.linspace(3.0, 0.5, D, dtype=dtype)
    return (randn(N, D, seed=seed, dtype=dtype) * scales) @ mix + 1e3


def svd_components(X, k, centre=True):
    Xc = X - X.mean(dim=0) if centre else X
    return torch.linalg.svd(Xc, full_matrices=False).Vh[:k]


def align_signs(got, want):
    """got with each row's sign flipped to agree with want's row (rows compared up to sign)."""
    sign = torch.sign((got * want).sum(-1, keepdim=True))
    return got * torch.where(sign == 0, torch.ones_like(sign), sign)


def true_ratios(X, k):
    eig = torch.linalg.eigvalsh(torch.cov(X.T)).flip(0).clamp(min=0)
    return eig[:k] / eig.sum()


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Return (components (k, D), explained_variance_ratio (k,), mean (D,)) in X's dtype.")
@pytest.mark.parametrize("sizes", SIZES, ids=str)
def test_pca_returns_the_stated_shapes_and_mean(student, sizes):
    N, D, k = sizes
    X = offset_data(N, D, seed=N).float()
    got = student.pca(X, k)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        fail("pca must return (components, explained_variance_ratio, mean)")
    components, ratios, mean = got
    assert_close(components.shape, torch.Size([k, D]), what="components shape")
    assert_close(ratios.shape, torch.Size([k]), what="explained_variance_ratio shape")
    for name, value in (("components", components), ("explained_variance_ratio", ratios), ("mean", mean)):
        if value.dtype != X.dtype:
            fail(f"{name} has dtype {value.dtype}, expected X's dtype {X.dtype}")
    assert_close(mean, X.mean(dim=0), what="mean")


@pytest.mark.points(3)
@pytest.mark.hint("PCA describes variation around the mean: what does the SVD of data far from the origin find first?")
@pytest.mark.parametrize("sizes", SIZES, ids=str)
def test_pca_components_match_svd_of_the_centred_data_up_to_sign(student, sizes):
    N, D, k = sizes
    X = offset_data(N, D, seed=10 + N)
    want = svd_components(X, k)
    components = student.pca(X, k)[0]
    assert_close(components.shape, want.shape, what="components shape")
    cos = (components * want).sum(-1).abs() / components.norm(dim=-1).clamp(min=1e-300)
    uncentred = svd_components(X, k, centre=False)
    if (uncentred[0] @ components[0]).abs() > 0.999 and (want[0] @ components[0]).abs() < 0.999:
        fail("first component points to the mean: the data was not centred")
    assert_close(cos, torch.ones_like(cos), atol=1e-8, what="|cos| between each component and the SVD's")
    assert_close(align_signs(components, want), want, atol=1e-8, what="components (up to sign)")


@pytest.mark.points(3)
@pytest.mark.hint(
    "A component's variance is its singular value squared over N − 1; the ratio divides by the total variance over "
    "ALL directions, so the k ratios need not sum to 1."
)
@pytest.mark.parametrize("sizes", [(2, 3, 1), (7, 5, 3), (40, 6, 2)], ids=str)
def test_pca_explained_variance_ratio_is_the_normalised_eigenvalues(student, sizes):
    N, D, k = sizes
    X = offset_data(N, D, seed=20 + N)
    want = true_ratios(X, k)
    S = torch.linalg.svdvals(X - X.mean(dim=0))
    rank = min(N - 1, D)  # of the centred data: N points span N - 1 directions at most
    mistakes = {}
    if rank > 1:  # a single direction holds all the variance: any ratio of it is 1
        mistakes["ratios of singular values, not of their squares (variances)"] = (S / S.sum())[:k]
    if rank > k:  # the k kept components hold all the variance: their total is the total
        mistakes["ratios normalised over the k kept components only, not the total variance"] = want / want.sum()
    ratios = student.pca(X, k)[1]
    if isinstance(ratios, torch.Tensor) and ratios.numel() and float(ratios.max()) > 1 + 1e-9:
        fail(f"an explained variance ratio is {float(ratios.max()):.4g} > 1")
    assert_close(ratios, want, atol=1e-10, what="explained_variance_ratio", mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint("With k = D every direction is kept: the ratios add up to the whole variance.")
def test_pca_ratios_sum_to_one_when_every_component_is_kept(student):
    X = offset_data(9, 4, seed=30)
    ratios = student.pca(X, 4)[1]
    assert_close(ratios.sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-10, what="sum of all D ratios")
    if (ratios[1:] > ratios[:-1] + 1e-12).any():
        fail("the explained variance ratios are not in decreasing order")


# --- anomaly_scores ------------------------------------------------------------------------------------


def state_for(X, k):
    mean = X.mean(dim=0)
    _, S, Vh = torch.linalg.svd(X - mean, full_matrices=False)
    var = S**2
    return (Vh[:k], (var / var.sum())[:k], mean)


def residual(X, state):
    C, _, mean = state
    Xc = X - mean
    return ((Xc - Xc @ C.T @ C) ** 2).sum(-1)


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Centre with the STORED training mean, project onto the components and back, and sum the squared differences per row.")
@pytest.mark.parametrize("sizes", [(1, 3, 1), (7, 5, 2), (33, 6, 3)], ids=str)
def test_anomaly_scores_are_squared_reconstruction_errors(student, sizes):
    N, D, k = sizes
    train = offset_data(25, D, seed=40 + D)
    state = state_for(train, k)
    X = offset_data(N, D, seed=50 + N) + 0.5
    C, _, mean = state
    Xc = X - mean
    own_mean = X - X.mean(dim=0)
    mistakes = {
        "scores are distances, not squared distances": residual(X, state).sqrt(),
        "scores measure the projection (what is kept), not what is lost": ((Xc @ C.T) ** 2).sum(-1),
        "new points were centred with their own mean, not the training mean": ((own_mean - own_mean @ C.T @ C) ** 2).sum(-1),
    }
    if N == 1:
        del mistakes["new points were centred with their own mean, not the training mean"]
    assert_close(student.anomaly_scores(X, state), residual(X, state), rtol=1e-9, atol=1e-7,
                 what="anomaly scores", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint("Points near the fitted subspace are reconstructed well; one far off it is reconstructed badly.")
def test_anomaly_scores_rank_an_injected_outlier_first(student):
    g = torch.Generator().manual_seed(60)
    basis = torch.linalg.qr(torch.randn(6, 2, generator=g, dtype=torch.float64)).Q.T
    X = torch.randn(40, 2, generator=g, dtype=torch.float64) * 3 @ basis + 1e3
    X = X + 0.01 * torch.randn(40, 6, generator=g, dtype=torch.float64)
    normal = torch.linalg.svd(basis.T @ basis - torch.eye(6, dtype=torch.float64)).U[:, 0]
    X[17] = X[17] + 2.0 * normal
    state = state_for(X, 2)
    scores = student.anomaly_scores(X, state)
    assert_close(scores.shape, torch.Size([40]), what="scores shape")
    if int(scores.argmax()) != 17:
        fail(f"the injected outlier (row 17) is ranked {int((scores > scores[17]).sum()) + 1}, not first")


@pytest.mark.points(1)
@pytest.mark.hint("With every direction kept, the projection loses nothing.")
def test_anomaly_scores_are_zero_when_every_component_is_kept(student):
    X = offset_data(8, 3, seed=70)
    got = student.anomaly_scores(X, state_for(X, 3))
    assert_close(got, torch.zeros(8, dtype=torch.float64), atol=1e-6, what="scores with k = D")
