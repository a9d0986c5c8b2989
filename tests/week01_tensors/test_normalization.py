"""Hidden tests of week 1, normalization.py: min-max scaling and z-scores along an axis.

Expected values are built at test time from amin/amax and from numpy's mean and var (which
divide by N, like the stub asks). Inputs are non-square, with columns of very different scales
and offsets, so that statistics taken along the wrong axis give visibly wrong values; constant
columns and a single row check that eps keeps 0/0 out.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grader.testing import assert_close, fail, generator, randn

pytestmark = pytest.mark.exercise("normalization")

CASES = [((7, 5), 0), ((2, 3, 4), 1), ((4, 6), -1)]  # (shape, dim): non-square, a middle dim, a negative dim


def features(*shape: int, seed: int) -> torch.Tensor:
    """Random data whose last-dim columns have different offsets and scales (float64)."""
    columns = shape[-1]
    offsets = torch.linspace(-20.0, 30.0, columns, dtype=torch.float64)
    scales = torch.linspace(0.5, 8.0, columns, dtype=torch.float64)
    return randn(*shape, seed=seed) * scales + offsets


def minmax_formula(x: torch.Tensor, dim: int) -> torch.Tensor:
    """(x - min) / (max - min) along dim, 0 where the slice is constant."""
    lo, hi = x.amin(dim, keepdim=True), x.amax(dim, keepdim=True)
    span = hi - lo
    return torch.where(span > 0, (x - lo) / torch.where(span > 0, span, 1.0), 0.0)


def zscore_numpy(x: torch.Tensor, dim: int, eps: float = 1e-8, ddof: int = 0) -> torch.Tensor:
    """numpy's (x - mean) / sqrt(var + eps) along dim; ddof=1 is the unbiased (torch default) variance."""
    a = x.numpy()
    mean = a.mean(axis=dim, keepdims=True)
    var = a.var(axis=dim, keepdims=True, ddof=ddof) if a.shape[dim] > ddof else np.full_like(mean, np.nan)
    return torch.from_numpy((a - mean) / np.sqrt(var + eps))


def other_axes(x: torch.Tensor, dim: int) -> list[int]:
    return [a for a in range(x.dim()) if a != dim % x.dim()]


def with_constant_columns(seed: int) -> torch.Tensor:
    """(6, 4) data whose column 1 is 0.1 everywhere (a mean that is not exact) and column 3 is 3.0."""
    x = features(6, 4, seed=seed)
    x[:, 1] = 0.1
    x[:, 3] = 3.0
    return x


# --- minmax_scale ---------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Subtract the min and divide by (max - min), both taken along `dim` and kept as a dim of size 1 "
    "so that they broadcast against x."
)
@pytest.mark.parametrize("shape, dim", CASES, ids=[f"{s}-dim{d}" for s, d in CASES])
def test_minmax_scale_matches_the_amin_amax_formula(student, shape, dim):
    x = features(*shape, seed=1)
    mistakes = {
        f"statistics taken along dim {a} instead of dim {dim}: reduce along the dim you are given": minmax_formula(x, a)
        for a in other_axes(x, dim)
    }
    assert_close(student.minmax_scale(x, dim), minmax_formula(x, dim), mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint(
    "A constant column has max - min = 0, and 0 / 0 is NaN. What does the eps argument protect against? "
    "Every value of a constant column is its minimum, so it should come out as 0."
)
def test_minmax_scale_gives_zeros_not_nan_for_a_constant_column(student):
    x = with_constant_columns(seed=2)
    got = student.minmax_scale(x)
    if isinstance(got, torch.Tensor) and torch.isnan(got).any():
        fail("NaN for a constant column: its max - min is 0, so keep the denominator at least eps")
    assert_close(got, minmax_formula(x, 0))


@pytest.mark.points(1)
@pytest.mark.hint(
    "uint8 pixels (0...255) and other integers must give a floating-point result: convert to the default float "
    "dtype (torch.get_default_dtype()) before any arithmetic."
)
def test_integer_inputs_give_floating_results(student):
    g = generator(3)
    images = torch.randint(0, 256, (5, 64), generator=g, dtype=torch.uint8)
    images[:, 0], images[:, 1] = 0, 255  # every image spans the full range
    images[2, 2:] = 17  # and one row of 0, 255, 17, 17, ...
    got = student.minmax_scale(images, dim=-1)
    if isinstance(got, torch.Tensor) and not got.is_floating_point():
        fail(f"minmax_scale() of uint8 images returned dtype {got.dtype}, expected floating-point values in [0, 1]")
    assert_close(got, minmax_formula(images.float(), -1), what="minmax_scale() of uint8 images")
    counts = torch.randint(0, 50, (9, 3), generator=g)
    got = student.zscore(counts)
    if isinstance(got, torch.Tensor) and not got.is_floating_point():
        fail(f"zscore() of int64 counts returned dtype {got.dtype}, expected floating-point values")
    assert_close(got, zscore_numpy(counts.float(), 0).float(), what="zscore() of int64 counts")


# --- zscore ---------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Subtract the mean and divide by sqrt(var + eps), both along `dim` (kept as a dim of size 1); "
    "the variance divides by N, as numpy's var does."
)
@pytest.mark.parametrize("shape, dim", CASES, ids=[f"{s}-dim{d}" for s, d in CASES])
def test_zscore_matches_numpy_mean_and_var(student, shape, dim):
    x = features(*shape, seed=4)
    mistakes = {
        "off by a factor sqrt((N - 1) / N): torch.var and torch.std divide by N - 1 by default, the stub asks for "
        "the biased variance (divide by N)": zscore_numpy(x, dim, ddof=1)
    }
    for a in other_axes(x, dim):
        mistakes[f"statistics taken along dim {a} instead of dim {dim}: reduce along the dim you are given"] = (
            zscore_numpy(x, a)
        )
    assert_close(student.zscore(x, dim), zscore_numpy(x, dim), mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint(
    "There are two variances: sum of squared deviations divided by N (numpy's var, the one asked for here) or by "
    "N - 1 (torch.var's default). Which one does your code compute?"
)
def test_zscore_divides_the_variance_by_n_like_numpy(student):
    x = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 50.0]], dtype=torch.float64)
    assert_close(
        student.zscore(x),
        zscore_numpy(x, 0),
        mistakes={
            "off by N/(N - 1) in the variance: the unbiased variance (torch's default) where the biased one "
            "(divide by N, like numpy) was asked": zscore_numpy(x, 0, ddof=1)
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint(
    "With a single example the variance divided by N - 1 is 0 / 0; the one divided by N is 0, and eps does the rest."
)
def test_zscore_of_a_single_row_is_zeros_not_nan(student):
    x = features(1, 5, seed=5)
    got = student.zscore(x)
    if isinstance(got, torch.Tensor) and torch.isnan(got).any():
        # Two causes give this NaN; a constant column of several rows (variance 0 either way) tells them apart.
        constant = student.zscore(torch.full((4, 3), 2.5, dtype=torch.float64))
        if isinstance(constant, torch.Tensor) and torch.isnan(constant).any():
            fail("NaN for a single row: its variance is 0 (one value is its own mean), and without eps 0/0 is NaN")
        fail("NaN for a single row: the unbiased variance (or std) of one element is 0/0; divide by N, not N - 1")
    assert_close(got, torch.zeros(1, 5, dtype=torch.float64), atol=1e-6)


@pytest.mark.points(2)
@pytest.mark.hint(
    "A constant column has variance 0, and 0 / sqrt(0) is NaN. What does the eps argument protect against? "
    "Every value of a constant column is its mean, so it should come out as (nearly) 0."
)
def test_zscore_gives_zeros_not_nan_for_a_constant_column(student):
    x = with_constant_columns(seed=6)
    got = student.zscore(x)
    if isinstance(got, torch.Tensor) and torch.isnan(got).any():
        fail("NaN for a constant column: its variance is 0, so add eps to it before the square root")
    assert_close(got, zscore_numpy(x, 0), atol=1e-6)


@pytest.mark.points(2)
@pytest.mark.hint(
    "dim is the dim the statistics are taken ALONG (the one reduced): with one example per row, dim=0 gives one "
    "min, max, mean and variance per column (feature), computed over the rows."
)
def test_normalization_takes_its_statistics_along_dim(student):
    x = features(7, 5, seed=7)
    for dim, other in ((0, 1), (1, 0)):
        wrong = (
            f"normalized along the wrong axis: dim={dim} means statistics over dim {dim}, one per slice of dim {other}"
        )
        kwargs = {} if dim == 0 else {"dim": dim}
        call = "" if dim == 0 else ", dim=1"
        assert_close(
            student.minmax_scale(x, **kwargs),
            minmax_formula(x, dim),
            what=f"minmax_scale(x{call}) for x of shape (7, 5)",
            mistakes={wrong: minmax_formula(x, other)},
        )
        assert_close(
            student.zscore(x, **kwargs),
            zscore_numpy(x, dim),
            what=f"zscore(x{call}) for x of shape (7, 5)",
            mistakes={wrong: zscore_numpy(x, other)},
        )


# --- data far from 0, and exact dtypes ------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "Far from 0, mean(x²) and mean(x)² agree in their first 16 digits, so their difference keeps none of the "
    "variance: subtract the mean first, then average the squared deviations."
)
def test_zscore_is_exact_for_data_far_from_0(student):
    # Compared with the learner's own zscore of the same data shifted to 0 (z-scores do not change under a
    # shift), so that only the loss of digits far from 0 is judged here (the variance's N has its own tests).
    x = randn(200, 3, seed=51) + 1e8  # a spread of about 1 around 1e8
    got = student.zscore(x, dim=0)
    if isinstance(got, torch.Tensor) and got.dtype != x.dtype:
        fail(f"returned {got.dtype} for a {x.dtype} input; float32 cannot tell data around 1e8 apart to better than 8")
    if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(x.shape) and not torch.isfinite(got).all():
        fail("zscore of data around 1e8 gave inf or NaN: a negative or zero variance from mean(x²) − mean(x)²")
    near_0 = student.zscore(x - 1e8, dim=0)
    assert_close(got, near_0, atol=1e-6, rtol=1e-6, what="zscore of data around 1e8, compared with your zscore of the same data around 0")


@pytest.mark.points(1)
@pytest.mark.hint("Only integer inputs are converted; a floating input keeps its dtype (float64 stays float64).")
@pytest.mark.parametrize("name", ["minmax_scale", "zscore"])
def test_normalization_keeps_the_dtype_of_a_floating_input(student, name):
    for dtype in (torch.float64, torch.float32):
        x = randn(5, 4, seed=52, dtype=dtype)
        got = getattr(student, name)(x, dim=0)
        if isinstance(got, torch.Tensor) and got.dtype != x.dtype:
            fail(f"{name} returned {got.dtype} for a {x.dtype} input; a floating input keeps its dtype")
