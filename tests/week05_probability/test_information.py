"""Hidden tests of week 5, information.py: surprise, entropy, cross-entropy, KL and mutual information.

Expected values come from torch (torch.distributions, torch.nn.functional) at test time, or from
identities (H(uniform over k) = log k, KL(p‖p) = 0). Known wrong answers are named through
`mistakes=` so that a failing learner reads what went wrong, not just a number.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Categorical, Normal
from torch.distributions import kl_divergence as torch_kl

from grader.testing import SHAPES, assert_close, fail, rand_distribution, randn

pytestmark = pytest.mark.exercise("information")

LN2 = math.log(2)


def categorical_entropy(p: torch.Tensor) -> torch.Tensor:
    """torch's entropy of the distributions along the last dim of p."""
    return Categorical(probs=p).entropy()


def kl_pq(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """torch's KL(p‖q) along the last dim: F.kl_div takes (input=log q, target=p)."""
    return F.kl_div(q.log(), p, reduction="none").sum(-1)


def cross_entropy_pq(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """torch's H(p, q) along the last dim: F.cross_entropy with probability targets, classes in dim 1."""
    return F.cross_entropy(q.log().movedim(-1, 1), p.movedim(-1, 1), reduction="none")


def joint_table(*shape: int, seed: int) -> torch.Tensor:
    """A random (..., X, Y) joint distribution that sums to 1 over its last two dims."""
    *batch, x, y = shape
    return rand_distribution(*batch, x * y, seed=seed).reshape(*batch, x, y)


def mi_by_entropies(joint: torch.Tensor) -> torch.Tensor:
    """I(X; Y) = H(X) + H(Y) - H(X, Y), each entropy from torch's Categorical."""
    joint = joint / joint.sum(dim=(-2, -1), keepdim=True)
    h_x = categorical_entropy(joint.sum(-1))
    h_y = categorical_entropy(joint.sum(-2))
    h_xy = categorical_entropy(joint.flatten(-2))
    return h_x + h_y - h_xy


# --- self-information and entropy -------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Surprise grows as an outcome gets rarer and is 0 for a certain one; "
    "the base of the logarithm only sets the unit (e gives nats, 2 gives bits).",
    "Start from -ln p, which is in nats; a logarithm in base b is the natural one divided by a constant that depends only on b.",
)
@pytest.mark.parametrize("base", [math.e, 2.0], ids=["nats", "bits"])
def test_self_information_is_minus_log_p_in_the_requested_base(student, base):
    p = rand_distribution(7, 5, seed=1)
    want = -torch.log(p) / math.log(base)
    mistakes = {"lost the minus sign: surprise is never negative": -want}
    if base == math.e:
        mistakes["in bits (log base 2) where nats (natural log) were asked"] = -torch.log2(p)
    else:
        mistakes["in nats: the `base` argument was ignored"] = -torch.log(p)
    assert_close(student.self_information(p, base=base), want, mistakes=mistakes, at=p)


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "H(p) is the expected surprise: weight each outcome's -log p by its probability, along `dim`.",
    "Multiply p by its surprise element by element, then sum over one dimension only; the result loses that dimension and keeps the others.",
)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_entropy_matches_torch_categorical(student, shape):
    p = rand_distribution(*shape, seed=2)
    want = categorical_entropy(p)
    assert_close(
        student.entropy(p),
        want,
        mistakes={
            "lost the minus sign: entropy is never negative": -want,
            "in bits (log base 2) where nats (natural log) were asked": want / LN2,
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "What is log(0) in floating point, and what is 0 times it? By convention 0·log 0 = 0.",
    "0 · (-inf) is NaN in floating point. Pick, element by element, either the term or an exact 0 where p is 0 (torch.where, or torch.xlogy).",
)
def test_entropy_treats_0_log_0_as_0(student):
    # Compared with the learner's own entropy of the same rows with the zero entries left out, so
    # that only the handling of zeros is judged here (a wrong base or sign fails its own tests).
    p = torch.cat([rand_distribution(6, 5, seed=3, zeros=2), torch.tensor([[0.5, 0.5, 0.0, 0.0, 0.0]])])
    got = student.entropy(p)
    if isinstance(got, torch.Tensor) and torch.isnan(got).any():
        fail("NaN when a probability is exactly 0: by convention 0·log 0 = 0")
    without_zeros = student.entropy(p[:6][p[:6] > 0].reshape(6, 3))
    if not isinstance(without_zeros, torch.Tensor) or tuple(without_zeros.shape) != (6,):
        fail(f"entropy of 6 rows should have shape (6,), got {getattr(without_zeros, 'shape', without_zeros)!r}")
    half_half = student.entropy(torch.tensor([0.5, 0.5], dtype=torch.float64))
    assert_close(
        got,
        torch.cat([without_zeros, torch.as_tensor(half_half).reshape(1)]),
        what="entropy of rows with zeros, compared with your entropy of the same rows without the zero entries",
    )


@pytest.mark.points(1)
@pytest.mark.hint(
    "A uniform distribution over k outcomes has the largest entropy there is over k outcomes; change of base: log_b x = ln x / ln b.",
    "Work out by hand the entropy of a uniform distribution over 4 outcomes in nats and in bits, and compare with what your function returns.",
)
def test_entropy_of_uniform_over_k_outcomes_is_log_k_in_nats_and_in_bits(student):
    for k in (2, 5, 8):
        p = torch.full((3, k), 1.0 / k, dtype=torch.float64)
        nats = torch.full((3,), math.log(k), dtype=torch.float64)
        assert_close(
            student.entropy(p),
            nats,
            what=f"entropy of uniform over {k} (nats)",
            mistakes={"in bits (log base 2) where nats were asked": nats / LN2, "lost the minus sign": -nats},
        )
        assert_close(
            student.entropy(p, base=2),
            nats / LN2,
            what=f"entropy of uniform over {k} with base=2",
            mistakes={"in nats: the `base` argument was ignored": nats},
        )


@pytest.mark.points(1)
@pytest.mark.hint(
    "Reduce along `dim` only; every other dimension (before or after it) is a batch dimension.",
    "A negative dim counts from the end; try a (2, 3, 4) input with dim=0, dim=1 and dim=-1 and check the shape of the result each time.",
)
def test_entropy_reduces_along_dim_and_keeps_the_other_dims(student):
    # Compared with the learner's own entropy along the last dim, so that only the handling of
    # `dim` is judged here (a wrong base or sign fails its own tests).
    p = rand_distribution(3, 2, 5, seed=4)  # distributions along the last dim
    along_last = student.entropy(p)
    if not isinstance(along_last, torch.Tensor) or tuple(along_last.shape) != (3, 2):
        fail(f"entropy(p) of a (3, 2, 5) input should have shape (3, 2), got {getattr(along_last, 'shape', along_last)!r}")
    assert_close(student.entropy(p.movedim(-1, 0), dim=0), along_last, what="entropy(p, dim=0), compared with your entropy along the last dim")
    assert_close(student.entropy(p.movedim(-1, 1), dim=1), along_last, what="entropy(p, dim=1), compared with your entropy along the last dim")


# --- cross-entropy and KL divergence ----------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.hint(
    "H(p, q): outcomes come from p, and are scored by the model q. Which one weights, which one is in the log?",
    "H(p, q) is the expected surprise of the model q when outcomes are drawn from p: the weights come from the distribution that produces the data.",
)
def test_cross_entropy_matches_F_cross_entropy_with_probability_targets(student):
    p, q = rand_distribution(2, 3, 4, seed=5), rand_distribution(2, 3, 4, seed=6)
    want = cross_entropy_pq(p, q)
    assert_close(
        student.cross_entropy(p, q),
        want,
        mistakes={
            "matches H(q, p): the arguments are swapped": cross_entropy_pq(q, p),
            "lost the minus sign: cross-entropy is never negative": -want,
            "matches KL(p‖q): the H(p) part is missing": kl_pq(p, q),
        },
    )


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "KL(p‖q) = sum_i p_i log(p_i / q_i) along `dim`: the extra nats paid for coding p with q.",
    "KL(p‖q) = H(p, q) - H(p): both sums run over the same outcomes, along the same `dim`, weighted by the same distribution.",
)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_kl_divergence_matches_F_kl_div(student, shape):
    p, q = rand_distribution(*shape, seed=7), rand_distribution(*shape, seed=8)
    want = kl_pq(p, q)
    assert_close(
        student.kl_divergence(p, q),
        want,
        mistakes={
            "matches KL(q‖p), not KL(p‖q)": kl_pq(q, p),
            "lost the minus sign: KL is never negative": -want,
            "in bits (log base 2) where nats were asked": want / LN2,
            "matches the cross-entropy H(p, q), not KL(p‖q)": cross_entropy_pq(p, q),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "KL is not symmetric: which distribution weights the log-ratio? Compare with F.kl_div(input=log q, target=p).",
    "Write KL(p‖q) for two outcomes with p = (0.9, 0.1) and q = (0.5, 0.5), then swap the arguments: the two numbers differ, and the test expects the first.",
)
def test_kl_divergence_is_not_symmetric_and_uses_p_as_weights(student):
    p = torch.tensor([[0.9, 0.05, 0.05], [0.7, 0.2, 0.1]], dtype=torch.float64)
    q = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0.2, 0.2, 0.6]], dtype=torch.float64)
    want = torch_kl(Categorical(probs=p), Categorical(probs=q))
    swapped = torch_kl(Categorical(probs=q), Categorical(probs=p))
    assert ((want - swapped).abs() > 0.1).all(), "test design: the pair must be clearly asymmetric"
    assert_close(student.kl_divergence(p, q), want, mistakes={"matches KL(q‖p), not KL(p‖q)": swapped})


@pytest.mark.points(2)
@pytest.mark.hint(
    "Outcomes that p never produces cost nothing: 0·log 0 = 0 and 0·log(0/q) = 0, even when q is 0 too "
    "(a ratio 0/0 is NaN, so do not form it).",
    "Decide per element before dividing or taking a log: where p is 0 the term is 0, whatever q is; compute the log only where p is positive.",
)
def test_kl_divergence_and_cross_entropy_skip_outcomes_where_p_is_zero(student):
    # q is p with its nonzero entries swapped in pairs, so KL(p‖q) = KL(q‖p) and H(p, q) = H(q, p):
    # swapped arguments pass here and fail their own tests; only the zeros are judged.
    p = torch.tensor(
        [[0.1, 0.6, 0.0, 0.3, 0.0], [0.0, 0.25, 0.05, 0.0, 0.7], [0.15, 0.0, 0.0, 0.85, 0.0]], dtype=torch.float64
    )
    q = p[:, [1, 0, 2, 3, 4]].clone()
    q[1] = p[1, [0, 4, 2, 3, 1]]
    q[2] = p[2, [3, 1, 2, 0, 4]]
    # F.kl_div gives NaN where p and q are both 0; torch.distributions applies 0·log 0 = 0
    kl_want = torch_kl(Categorical(probs=p), Categorical(probs=q))
    assert torch.allclose(kl_want, torch_kl(Categorical(probs=q), Categorical(probs=p))), "test design: symmetric"
    assert (kl_want > 0.1).all(), "test design: p and q differ"
    checks = [
        ("kl_divergence(p, q)", student.kl_divergence(p, q), kl_want),
        ("cross_entropy(p, q)", student.cross_entropy(p, q), categorical_entropy(p) + kl_want),
        ("kl_divergence(p, p)", student.kl_divergence(p, p), torch.zeros(3, dtype=torch.float64)),
        ("cross_entropy(p, p)", student.cross_entropy(p, p), categorical_entropy(p)),
    ]
    for what, got, want in checks:
        if isinstance(got, torch.Tensor) and torch.isnan(got).any():
            fail(f"{what}: NaN when a probability in p is exactly 0 (by convention 0·log 0 = 0)")
        assert_close(got, want, what=what, atol=1e-12)


@pytest.mark.points(1)
@pytest.mark.hint(
    "If q gives probability 0 to an outcome that p produces, coding it with q costs infinitely many nats: do not clamp q.",
    "A term p·log(p/0) with p > 0 is +inf, and one infinite term makes the whole sum infinite; adding a small epsilon to q would hide exactly that.",
)
def test_kl_divergence_and_cross_entropy_are_infinite_where_q_is_zero_but_p_is_not(student):
    # Each row of q is 0 where p is not and p is 0 where q is not: both KL(p‖q) and KL(q‖p) are +inf,
    # so swapped arguments pass here and fail their own tests; only the handling of q = 0 is judged.
    p = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.0, 0.8], [0.0, 0.3, 0.7]], dtype=torch.float64)
    q = torch.tensor([[0.5, 0.0, 0.5], [0.0, 0.6, 0.4], [0.9, 0.1, 0.0]], dtype=torch.float64)
    assert torch.isinf(kl_pq(p, q)).all() and torch.isinf(kl_pq(q, p)).all(), "test design: infinite both ways"
    for what, got, want in (
        ("kl_divergence(p, q)", student.kl_divergence(p, q), kl_pq(p, q)),
        ("cross_entropy(p, q)", student.cross_entropy(p, q), cross_entropy_pq(p, q)),
    ):
        if isinstance(got, torch.Tensor) and tuple(got.shape) == (3,) and torch.isfinite(got).all():
            fail(f"{what}: finite where q is 0 but p is not; coding an outcome that q calls impossible costs +inf")
        assert_close(got, want, what=what)


@pytest.mark.points(2)
@pytest.mark.hint(
    "Cross-entropy = entropy + KL divergence; KL is >= 0 and is 0 exactly when both distributions agree.",
    "If your three functions each pass their own tests, this identity holds; if not, check that all three reduce along the same `dim` with the same weights.",
)
def test_cross_entropy_is_entropy_plus_kl_and_kl_is_nonnegative(student):
    # q is p with its entries permuted by an involution, so KL(p‖q) = KL(q‖p) and H(p, q) = H(q, p):
    # swapped arguments pass here and fail their own tests; only the identity is judged.
    p = rand_distribution(7, 5, seed=14)
    q = p[:, [1, 0, 3, 2, 4]]
    h_pq, h_p, kl = student.cross_entropy(p, q), student.entropy(p), student.kl_divergence(p, q)
    for name, value in (("cross_entropy", h_pq), ("entropy", h_p), ("kl_divergence", kl)):
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != (7,):
            fail(
                f"{name}() should return a tensor of shape (7,) for 7 distributions, got {getattr(value, 'shape', value)!r}"
            )
    assert_close(
        h_pq,
        h_p + kl,
        what="cross_entropy(p, q) compared with entropy(p) + kl_divergence(p, q)",
        atol=1e-12,
        mistakes={
            "entropy(p) is in bits while cross_entropy and kl_divergence are in nats": h_p * LN2 + kl,
            "entropy(p) has the wrong sign: entropy is never negative": -h_p + kl,
        },
    )
    if (kl < 0).any():
        fail(f"KL(p‖q) = {kl.min().item():.4g} < 0 for some rows: KL is never negative (a lost minus sign?)")
    assert_close(student.kl_divergence(p, p), torch.zeros(7, dtype=torch.float64), what="KL(p‖p)", atol=1e-12)


@pytest.mark.points(2)
@pytest.mark.hint(
    "sigma1 and sigma2 are standard deviations. Derive KL(N1‖N2) = E_N1[log N1(x) - log N2(x)] term by term, "
    "and check that KL(N‖N) = 0.",
    "The closed form has a log-ratio of the two standard deviations, a ratio of variances and a squared difference of means over the second variance, then -½.",
)
def test_kl_normal_matches_torch_distributions_with_broadcasting(student):
    mu1, mu2 = randn(3, 1, seed=16), randn(4, seed=17)
    sigma1 = torch.tensor([[0.3], [1.7], [2.5]], dtype=torch.float64)
    sigma2 = torch.tensor([0.5, 2.0, 0.4, 3.0], dtype=torch.float64)
    want = torch_kl(Normal(mu1, sigma1), Normal(mu2, sigma2))
    assert_close(
        student.kl_normal(mu1, sigma1, mu2, sigma2),
        want,
        mistakes={
            "matches KL(N2‖N1): the two normals are swapped": torch_kl(Normal(mu2, sigma2), Normal(mu1, sigma1)),
            "matches sigma used as a variance (sigma is a standard deviation)": torch_kl(
                Normal(mu1, sigma1.sqrt()), Normal(mu2, sigma2.sqrt())
            ),
            "matches sigma squared twice (sigma² used where sigma belongs)": torch_kl(
                Normal(mu1, sigma1**2), Normal(mu2, sigma2**2)
            ),
            "lost the minus sign": -want,
        },
    )
    assert_close(
        student.kl_normal(mu1, sigma1, mu1, sigma1), torch.zeros(3, 1, dtype=torch.float64), what="KL(N‖N)", atol=1e-12
    )


# --- mutual information -----------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "I(X; Y) compares the joint with the product of its marginals; the marginals come from summing out the other variable.",
    "Sum the joint over its last dim for one marginal and over the dim before it for the other; I(X; Y) = H(X) + H(Y) - H(X, Y) is one way to check.",
)
def test_mutual_information_matches_entropy_decomposition(student):
    single = joint_table(3, 4, seed=18)
    assert_close(student.mutual_information(single), mi_by_entropies(single), what="one (3, 4) table")
    batch = joint_table(2, 3, 5, seed=19)
    assert_close(student.mutual_information(batch), mi_by_entropies(batch), what="a batch of (3, 5) tables")
    assert_close(
        student.mutual_information(batch.transpose(-2, -1)),
        mi_by_entropies(batch),
        what="the transposed tables (I(X; Y) = I(Y; X))",
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "Independent variables share no information; when Y is a relabelling of X, knowing Y tells all of X. "
    "Empty cells of the table contribute 0 (0·log 0 = 0).",
    "For independent X and Y the joint equals the outer product of its marginals, so every log-ratio is 0; empty cells need the same care as in entropy.",
)
def test_mutual_information_is_0_for_independent_and_log_k_for_a_permutation(student):
    px = rand_distribution(2, 4, seed=20)
    py = rand_distribution(2, 6, seed=21)
    independent = px.unsqueeze(-1) * py.unsqueeze(-2)
    assert_close(
        student.mutual_information(independent),
        torch.zeros(2, dtype=torch.float64),
        what="independent X, Y",
        atol=1e-12,
        rtol=0,
    )
    k = 5
    permutation = torch.eye(k, dtype=torch.float64)[torch.tensor([3, 0, 4, 1, 2])] / k
    got = student.mutual_information(permutation)
    if isinstance(got, torch.Tensor) and torch.isnan(got).any():
        fail("NaN for a table with empty cells: by convention 0·log 0 = 0")
    assert_close(got, torch.tensor(math.log(k), dtype=torch.float64), what=f"Y a permutation of X over {k} values")


@pytest.mark.points(1)
@pytest.mark.hint(
    "The docstring says a table that does not sum to 1 (e.g. counts) is normalized first.",
    "Divide the table by its total over the last two dims (keep those dims for broadcasting) before computing any marginal.",
)
def test_mutual_information_normalizes_a_table_of_counts(student):
    counts = torch.randint(1, 20, (4, 6), generator=torch.Generator().manual_seed(22)).double()
    marginals = counts.sum(-1, keepdim=True) * counts.sum(-2, keepdim=True)
    unnormalized = (torch.special.xlogy(counts, counts) - torch.special.xlogy(counts, marginals)).sum()
    assert_close(
        student.mutual_information(counts),
        mi_by_entropies(counts),
        what="a table of counts",
        mistakes={"the counts were used as probabilities: normalize the table first": unnormalized},
    )


# --- edge cases the docstrings promise --------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.hint(
    "KL(p‖q) and H(p, q) weight each outcome by p: an outcome that p never produces costs nothing, "
    "whatever probability q gives it."
)
def test_kl_divergence_and_cross_entropy_are_finite_where_only_p_is_zero(student):
    # Compared with the learner's own values on the same rows with the outcomes p never produces left out,
    # so that only those outcomes are judged here (the formula itself has its own tests).
    p = rand_distribution(7, 5, seed=9, zeros=2)
    q = rand_distribution(7, 5, seed=10)  # no zeros in q
    support = p > 0
    p_kept, q_kept = p[support].reshape(7, 3), q[support].reshape(7, 3)
    for name in ("kl_divergence", "cross_entropy"):
        what = f"{name}(p, q)"
        got = getattr(student, name)(p, q)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (7,):
            fail(f"{what} of 7 distributions should have shape (7,), got {getattr(got, 'shape', got)!r}")
        if torch.isnan(got).any():
            fail(f"{what}: NaN when a probability in p is exactly 0 (by convention 0·log 0 = 0)")
        if torch.isinf(got).any():
            fail(f"{what} is infinite where p is 0 and q is not: the arguments are swapped")
        assert_close(
            got,
            getattr(student, name)(p_kept, q_kept),
            what=f"{what}, compared with your {name} of the same rows without the outcomes p never produces",
            atol=1e-12,
        )


@pytest.mark.points(1)
@pytest.mark.hint("The surprise of an outcome that cannot happen is unbounded; do not nudge p away from 0.")
def test_self_information_of_an_impossible_outcome_is_inf(student):
    # Only the two ends are judged here (the values in between, and the base, have their own tests):
    # +inf at p = 0, and a finite value for the tiny but possible p = 1e-300.
    p = torch.tensor([0.0, 1e-300], dtype=torch.float64)
    got = student.self_information(p)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (2,):
        fail(f"self_information of 2 probabilities should have shape (2,), got {getattr(got, 'shape', got)!r}")
    if torch.isnan(got).any():
        fail(f"self_information([0, 1e-300]) = {got.tolist()}: NaN where +inf and a finite value were expected")
    if torch.isfinite(got[0]):
        fail(f"self_information(0) = {got[0].item():.4g}, expected +inf: p was moved away from 0")
    if not torch.isfinite(got[1]) or got[1] <= 0:
        fail(f"self_information(1e-300) = {got[1].item():.4g}, expected a finite positive value (about 691 nats)")


@pytest.mark.points(1)
@pytest.mark.hint("Each table of a batch is its own joint distribution: normalize each one over its own two dims.")
def test_mutual_information_normalizes_each_table_of_a_batch_of_counts_on_its_own(student):
    g = torch.Generator().manual_seed(23)
    counts = torch.randint(1, 20, (3, 4, 5), generator=g).double() * torch.tensor([1.0, 10.0, 1000.0]).view(3, 1, 1)
    joint = counts / counts.sum()  # the whole batch normalized at once: the wrong way
    marginals = joint.sum(-1, keepdim=True) * joint.sum(-2, keepdim=True)
    whole_batch = (torch.special.xlogy(joint, joint) - torch.special.xlogy(joint, marginals)).sum((-2, -1))
    # Compared with the learner's own values for each table alone, so that only the batch is judged here.
    one_by_one = torch.stack([torch.as_tensor(student.mutual_information(table)) for table in counts])
    assert_close(
        student.mutual_information(counts),
        one_by_one,
        what="a batch of 3 count tables with totals of different sizes, compared with your values for each table alone",
        mistakes={"the batch was normalized as one table: each (X, Y) table must sum to 1 on its own": whole_batch},
    )


@pytest.mark.points(1)
@pytest.mark.hint("The docstring allows plain numbers as well as tensors: make tensors of them before using torch.")
def test_kl_normal_accepts_plain_numbers(student):
    # Compared with the learner's own result for the same values as tensors: only the plain numbers are judged here.
    as_tensors = student.kl_normal(*(torch.tensor(v) for v in (0.5, 1.5, -1.0, 0.7)))
    got = student.kl_normal(0.5, 1.5, -1.0, 0.7)
    assert_close(got, as_tensors, what="kl_normal(0.5, 1.5, -1.0, 0.7), compared with your result for 0-d tensors")
