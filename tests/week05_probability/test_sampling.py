"""Hidden tests of week 5, sampling.py: log-probabilities and samplers driven by a torch.Generator.

Log-probabilities are compared with torch.distributions under broadcasting. Samplers are judged
by statistics, never by their exact random stream (a correct sampler may consume uniforms in any
order): chi-square goodness of fit with a fixed seed, and whether the given generator is the only
source of randomness. Generators cannot cross the transport, so probes build them from a seed.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Normal

from grader.testing import assert_close, fail, rand_distribution, randn

pytestmark = pytest.mark.exercise("sampling")

DRAWS = 100_000
ALPHA = 1e-4  # false-alarm rate of each goodness-of-fit test for a correct sampler with another stream


def chi_square_critical_value(df: int, alpha: float = ALPHA) -> float:
    """Upper alpha-quantile of the chi-square distribution with `df` degrees of freedom.

    scipy is not a dependency, and torch's Chi2 has no icdf, so this uses the Wilson-Hilferty
    approximation: (X/df)^(1/3) is nearly normal with mean 1 - 2/(9 df) and variance 2/(9 df).
    For alpha = 1e-4 it overestimates the exact quantile by less than 4% at df = 3 and 1% at
    df = 19 (so it errs on the side of passing a correct sampler).
    """
    z = Normal(0.0, 1.0).icdf(torch.tensor(1 - alpha, dtype=torch.float64)).item()
    c = 2 / (9 * df)
    return df * (1 - c + z * math.sqrt(c)) ** 3


def chi_square_statistic(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """Pearson's statistic sum (observed - expected)² / expected over the categories of probs > 0."""
    expected = probs * counts.sum()
    keep = probs > 0
    return (((counts - expected)[keep] ** 2) / expected[keep]).sum().item()


def fmt(values: torch.Tensor) -> str:
    """A short list of numbers for a failure message."""
    return "[" + ", ".join(f"{v:.3g}" for v in values.tolist()) + "]"


def _categorical_samples(m, probs, n, seed):
    return m.sample_categorical(probs, n, torch.Generator().manual_seed(seed))


def _normal_samples(m, mu, sigma, n, seed):
    return m.sample_normal(mu, sigma, n, torch.Generator().manual_seed(seed))


def _generator_use(m, seeds):
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    mu, sigma = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    saved = torch.get_rng_state()
    out = {}
    try:
        for name in ("sample_categorical", "sample_normal"):
            runs, advanced, global_untouched = [], True, True
            for seed in seeds:
                g = torch.Generator().manual_seed(seed)
                before = g.get_state()
                torch.manual_seed(12345)
                if name == "sample_categorical":
                    runs.append(m.sample_categorical(probs, 50, g))
                else:
                    runs.append(m.sample_normal(mu, sigma, 50, g))
                advanced = advanced and not torch.equal(before, g.get_state())
                global_untouched = global_untouched and torch.equal(
                    torch.get_rng_state(), torch.manual_seed(12345).get_state()
                )
            out[name] = {"runs": runs, "advanced": advanced, "global_untouched": global_untouched}
    finally:
        torch.set_rng_state(saved)
    return out


# --- log-probabilities ----------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "log P(x) = log p when x = 1 and log(1 - p) when x = 0: write it as one expression in x so that shapes broadcast.",
    "x·log p + (1 - x)·log(1 - p) needs no if: it is one expression that broadcasts x against p.",
)
def test_log_prob_bernoulli_matches_torch_with_broadcasting(student):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 2, (4, 1), generator=g).double()
    p = 0.05 + 0.9 * torch.rand(3, generator=g, dtype=torch.float64)
    want = Bernoulli(probs=p).log_prob(x)
    assert_close(
        student.log_prob_bernoulli(x, p),
        want,
        mistakes={
            "log p and log(1 - p) are swapped: p is the probability of x = 1": Bernoulli(probs=1 - p).log_prob(x),
            "returned a probability, not its log": want.exp(),
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint(
    "When p is 0 or 1 one of the two logs is -inf; the term whose weight is 0 must contribute 0, not 0·(-inf) = NaN.",
    "Choose the log per element with torch.where(x == 1, ...) instead of weighting both logs, or use torch.xlogy, which defines 0·log 0 as 0.",
)
def test_log_prob_bernoulli_is_minus_inf_only_on_impossible_outcomes(student):
    x = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    p = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    want = torch.where(x == p, 0.0, -math.inf).double()  # certain outcome: log 1 = 0; impossible: log 0
    got = student.log_prob_bernoulli(x, p)
    if isinstance(got, torch.Tensor) and torch.isnan(got).any():
        fail("NaN for p = 0 or 1: a term with weight 0 must contribute 0 (0·log 0 = 0)")
    assert_close(got, want)


@pytest.mark.points(1)
@pytest.mark.hint(
    "Broadcast the indices against the batch shape of probs, then pick one entry of the last dim per index and take its log.",
    "torch.broadcast_tensors(x.unsqueeze(-1), probs) gives both the same leading shape; gather along the last dim, then drop it.",
)
def test_log_prob_categorical_matches_torch_with_broadcasting(student):
    probs = rand_distribution(3, 5, seed=2)
    g = torch.Generator().manual_seed(3)
    for x in (torch.randint(0, 5, (4, 1), generator=g), torch.randint(0, 5, (3,), generator=g)):
        want = Categorical(probs=probs).log_prob(x)
        assert_close(
            student.log_prob_categorical(x, probs),
            want,
            what=f"indices of shape {tuple(x.shape)} with probs of shape (3, 5)",
            mistakes={"returned a probability, not its log": want.exp()},
        )


@pytest.mark.points(1)
@pytest.mark.hint(
    "A category of probability 0 is impossible: its log-probability is -inf, and every other category stays finite.",
    "log(0) is -inf by itself; do not add an epsilon to the probabilities, which makes an impossible category merely unlikely.",
)
def test_log_prob_categorical_is_minus_inf_only_for_zero_probability_categories(student):
    probs = rand_distribution(4, 6, seed=4, zeros=2)
    x = torch.arange(6).unsqueeze(-1)  # every category against every row: shape (6, 4)
    want = torch.log(probs.T)  # log 0 = -inf exactly where the probability is 0
    assert_close(student.log_prob_categorical(x, probs), want)


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "sigma is a standard deviation: is your parameter σ or σ²? Keep the normalizing constants -log σ and -½·log 2π.",
    "Write log N(x; μ, σ) from the density 1/(σ√(2π)) · exp(-(x-μ)²/(2σ²)) and take the log of each factor.",
)
@pytest.mark.parametrize("scale", ["sigma>1", "sigma<1"])
def test_log_prob_normal_matches_torch_with_broadcasting(student, scale):
    x, mu = randn(5, 1, seed=5, scale=2.0), randn(4, seed=6)
    sigma = torch.tensor([1.5, 2.0, 3.0, 2.5] if scale == "sigma>1" else [0.2, 0.5, 0.3, 0.6], dtype=torch.float64)
    want = Normal(mu, sigma).log_prob(x)
    assert_close(
        student.log_prob_normal(x, mu, sigma),
        want,
        mistakes={
            "matches N(mu, std = sigma²): sigma squared where it is already a standard deviation": Normal(
                mu, sigma**2
            ).log_prob(x),
            "matches N(mu, variance = sigma): sigma is a standard deviation, not a variance": Normal(
                mu, sigma.sqrt()
            ).log_prob(x),
            "the -½·log 2π constant is missing": want + 0.5 * math.log(2 * math.pi),
            "the -log sigma term is missing": want + torch.log(sigma),
        },
    )


# --- sample_categorical ---------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Return n class indices as a LongTensor of shape (n,), each in [0, K).",
    "torch.searchsorted returns int64 indices; count the categories along the last dim of probs and check that no index reaches K.",
)
def test_sample_categorical_returns_n_class_indices(student):
    probs = rand_distribution(6, seed=7)
    got = student.run(_categorical_samples, probs, 1000, 0)
    if not isinstance(got, torch.Tensor):
        fail(f"a tensor expected, got {type(got).__name__}")
    if tuple(got.shape) != (1000,):
        fail(f"shape (1000,) expected for n = 1000 and probs of shape (6,), got {tuple(got.shape)}")
    if got.dtype != torch.int64:
        fail(f"a LongTensor (torch.int64) of class indices expected, got {got.dtype}")
    if got.min() < 0 or got.max() > 5:
        fail(f"indices must be in [0, 6), got values from {got.min().item()} to {got.max().item()}")


@pytest.mark.points(3)
@pytest.mark.hint(
    "The cumulative sum splits [0, 1) into one interval per category, of length its probability; "
    "a uniform draw must land in interval k with probability p_k (check both ends of each interval).",
    "Draw u uniform in [0, 1), then find the first category whose cumulative probability is greater than u; draw 10,000 samples and compare counts with n·p.",
)
def test_sample_categorical_passes_a_chi_square_goodness_of_fit_test(student):
    probs = torch.tensor([0.02, 0.3, 0.005, 0.15, 0.25, 0.075, 0.2], dtype=torch.float64)
    samples = student.run(_categorical_samples, probs, DRAWS, 2024)
    if not isinstance(samples, torch.Tensor) or tuple(samples.shape) != (DRAWS,):
        fail(f"{DRAWS} samples of shape ({DRAWS},) expected")
    if samples.min() < 0 or samples.max() >= len(probs):
        fail(f"indices must be in [0, {len(probs)}), got values from {samples.min().item()} to {samples.max().item()}")
    counts = torch.bincount(samples.long(), minlength=len(probs)).double()
    stat, critical = chi_square_statistic(counts, probs), chi_square_critical_value(len(probs) - 1)
    if stat > critical:
        freq = ", ".join(f"{f:.3f}" for f in (counts / DRAWS).tolist())
        want = ", ".join(f"{p:.3f}" for p in probs.tolist())
        fail(f"frequencies [{freq}] do not fit probs [{want}] (chi-square {stat:.1f} > {critical:.1f})")


@pytest.mark.points(2)
@pytest.mark.hint(
    "A category of probability 0 has an empty interval in the cumulative sum: check that each draw gets the index "
    "of the interval it falls in (no off-by-one), and which `right` of searchsorted keeps boundary draws out of it.",
    "When two cumulative sums are equal (a category of probability 0 between them), a draw exactly on that boundary must go to the next category of positive probability.",
)
def test_sample_categorical_never_draws_zero_probability_categories(student):
    for probs in (
        torch.tensor([0.0, 0.3, 0.0, 0.7, 0.0], dtype=torch.float64),
        torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=torch.float32),
    ):
        samples = student.run(_categorical_samples, probs, 20_000, 7)
        if not isinstance(samples, torch.Tensor):
            fail(f"a tensor of class indices expected, got {type(samples).__name__}")
        drawn = torch.unique(samples).tolist()
        impossible = [k for k in drawn if not (0 <= k < len(probs)) or probs[k] == 0]
        if impossible:
            fail(f"drew categories {impossible} of probability 0 (or out of range) from probs {probs.tolist()}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Every random number must come from the generator argument (pass generator=... to torch.rand), "
    "never from torch's global generator: the same seed must give the same samples.",
    "Every torch.rand, torch.randn or torch.multinomial call takes generator=...; a call without it draws from torch's global state and breaks reproducibility.",
)
def test_samplers_draw_from_the_given_generator_only(student):
    use = student.run(_generator_use, [0, 0, 1])
    for name, info in use.items():
        first, again, other = info["runs"]
        if not all(isinstance(run, torch.Tensor) for run in info["runs"]):
            fail(f"{name}: a tensor of samples expected")
        if not info["advanced"]:
            fail(f"{name}: the generator argument was never used")
        if not info["global_untouched"]:
            fail(f"{name}: drew from torch's global random generator, not only from the given one")
        if not torch.equal(first, again):
            fail(f"{name}: two generators with the same seed gave different samples")
        if torch.equal(first, other):
            fail(f"{name}: generators with different seeds gave the same samples")


# --- sample_normal --------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.hint(
    "The result has shape (n,) followed by the broadcast shape of mu and sigma, like Normal(mu, sigma).sample((n,)).",
    "torch.broadcast_shapes(mu.shape, sigma.shape) gives the shape of one sample; draw (n, *that shape) uniforms or normals at once.",
)
def test_sample_normal_has_shape_n_plus_the_broadcast_shape(student):
    mu, sigma = randn(3, 1, seed=8), 0.5 + rand_distribution(4, seed=9)
    for args, shape in (((mu, sigma, 10), (10, 3, 4)), ((0.0, 1.0, 7), (7,)), ((mu, 2.0, 5), (5, 3, 1))):
        got = student.run(_normal_samples, *args, 0)
        if not isinstance(got, torch.Tensor) or not got.dtype.is_floating_point:
            fail(f"a floating-point tensor expected, got {getattr(got, 'dtype', type(got).__name__)}")
        if tuple(got.shape) != shape:
            fail(f"shape {shape} expected for n = {args[2]}, got {tuple(got.shape)}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "sigma is a standard deviation: samples of N(mu, sigma²) have standard deviation sigma, not sigma² or √sigma.",
    "A standard normal z becomes N(μ, σ²) by scaling by σ and shifting by μ, in that order.",
)
def test_sample_normal_has_mean_mu_and_standard_deviation_sigma(student):
    mu = torch.tensor([-1.0, 3.0, 0.5], dtype=torch.float64)
    sigma = torch.tensor([2.0, 0.5, 3.0], dtype=torch.float64)
    samples = student.run(_normal_samples, mu, sigma, DRAWS, 11)
    if not isinstance(samples, torch.Tensor) or tuple(samples.shape) != (DRAWS, 3):
        fail(f"shape ({DRAWS}, 3) expected")
    mean, std = samples.mean(0), samples.std(0)
    # 6 standard errors: a correct sampler fails with probability ~1e-9 per parameter.
    mean_tol, std_tol = 6 * sigma / math.sqrt(DRAWS), 6 * sigma / math.sqrt(2 * DRAWS)
    if ((std - sigma).abs() > std_tol).any():
        for wrong, message in (
            (sigma**2, "sigma² was used as the standard deviation: sigma is a standard deviation already"),
            (sigma.sqrt(), "sigma was used as a variance: sigma is a standard deviation"),
            (
                sigma / math.sqrt(2),
                "std off by a factor √2 for every sigma: check the radius of the Box-Muller transform",
            ),
        ):
            if ((std - wrong).abs() <= 6 * wrong / math.sqrt(2 * DRAWS)).all():
                fail(f"sample stds {fmt(std)} for sigma = {fmt(sigma)}: {message}")
        fail(f"sample stds {fmt(std)}, expected sigma = {fmt(sigma)} (± {fmt(std_tol)})")
    if ((mean - mu).abs() > mean_tol).any():
        fail(f"sample means {fmt(mean)}, expected mu = {fmt(mu)} (± {fmt(mean_tol)})")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Box-Muller: two independent uniforms u1, u2 give sqrt(-2 ln u1)·cos(2π u2), a standard normal; "
    "check the radius and the angle against the formula.",
    "u1 must be in (0, 1], not [0, 1), or ln u1 is -inf; the angle is 2π·u2, and the radius uses the natural log.",
)
def test_sample_normal_is_gaussian_by_a_chi_square_test(student):
    samples = student.run(
        _normal_samples, torch.tensor(1.0, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64), DRAWS, 12
    )
    if not isinstance(samples, torch.Tensor) or samples.numel() != DRAWS:
        fail(f"{DRAWS} samples expected")
    if not torch.isfinite(samples).all():
        fail("inf or NaN among the samples: is the argument of the log ever 0?")
    bins = 20  # equal-probability bins of N(1, 2²)
    edges = Normal(1.0, 2.0).icdf(torch.arange(1, bins, dtype=torch.float64) / bins)
    counts = torch.bincount(torch.bucketize(samples.double().flatten(), edges), minlength=bins).double()
    probs = torch.full((bins,), 1 / bins, dtype=torch.float64)
    stat, critical = chi_square_statistic(counts, probs), chi_square_critical_value(bins - 1)
    if stat > critical:
        fail(
            f"the samples do not look Gaussian: chi-square over {bins} equal-probability bins {stat:.1f} > {critical:.1f}"
        )
