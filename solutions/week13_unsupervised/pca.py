"""Principal component analysis by the SVD, and anomaly scores from the reconstruction error.

PCA finds the directions along which centred data varies most. Centre X (subtract the mean of
each feature), take the thin SVD Xc = U S Vᵀ: the rows of Vᵀ are the principal directions, in
order of decreasing singular value, and the variance along direction i is S[i]² / (N − 1). The
explained variance ratio of a component is its variance divided by the total variance (the sum
over all D directions, not just the k kept), so the ratios are at most 1 and sum to at most 1.
Without centering, the first "component" points towards the mean of the data instead.

A point's anomaly score is its squared reconstruction error: centre it with the training mean,
project onto the k components and back, and measure what the projection lost. Points that the
k directions explain well score near 0; an outlier off the subspace scores high.
"""

from __future__ import annotations

import torch


def pca(X: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The top-k principal components of X. Returns (components, explained_variance_ratio, mean).

    X: (N, D) with N >= 2 and k <= min(N, D). components: (k, D), orthonormal rows, the directions
    of decreasing variance (each one's sign is arbitrary). explained_variance_ratio: (k,), the
    fraction of the total variance along each component. mean: (D,), the feature means of X.
    """
    # TODO: centre X; torch.linalg.svd(..., full_matrices=False); keep k rows of Vᵀ.
    # TODO: variances from the singular values, divided by the total over all of them.
    ### BEGIN SOLUTION
    mean = X.mean(dim=0)
    centred = X - mean
    _, S, Vh = torch.linalg.svd(centred, full_matrices=False)
    variances = S**2 / (X.shape[0] - 1)
    ratio = variances / variances.sum()
    return Vh[:k], ratio[:k], mean
    ### END SOLUTION


def anomaly_scores(X: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Squared reconstruction error of each row of X under a fitted PCA. Returns (N,).

    X: (N, D), new or training points. state: pca's result (components (k, D),
    explained_variance_ratio (k,), mean (D,)). score[i] = ‖x_c − x_c Cᵀ C‖² with x_c = X[i] − mean.
    """
    # TODO: centre with the stored mean, project onto the components and back, sum the squares.
    ### BEGIN SOLUTION
    components, _, mean = state
    centred = X - mean
    reconstruction = (centred @ components.T) @ components
    return ((centred - reconstruction) ** 2).sum(dim=-1)
    ### END SOLUTION
