"""Hidden tests of week 5, losses.py: log_softmax and torch's four classification losses, from scratch.

Every expected value is torch.nn.functional's twin, computed at test time on seeded inputs:
float64 for exactness, float32 where numerical stability is the point. Gradients are checked
through a probe (autograd graphs do not cross the transport), against torch's own gradients.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from grader.testing import SHAPES, assert_close, fail, rand_distribution, rand_labels, rand_logits, randn

pytestmark = pytest.mark.exercise("losses")

REDUCTIONS = ["mean", "sum", "none"]


def rand_probs(*shape: int, seed: int) -> torch.Tensor:
    """Probabilities in (0.02, 0.98), away from the clamp at 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    return 0.02 + 0.96 * torch.rand(*shape, generator=g, dtype=torch.float64)


def rand_binary(*shape: int, seed: int) -> torch.Tensor:
    """Binary targets as floats (0. or 1.)."""
    return rand_labels(*shape, num_classes=2, seed=seed).double()


def with_ignored(target: torch.Tensor, every: int, ignore_index: int) -> torch.Tensor:
    """A copy of `target` in which every `every`-th element (flattened) is `ignore_index`."""
    target = target.clone()
    target.view(-1)[::every] = ignore_index
    return target


def sum_instead_of_mean(reduction: str, loss_sum: torch.Tensor) -> dict[str, torch.Tensor]:
    """The `mistakes=` entry naming a sum where torch's default mean was asked."""
    return {"sum instead of mean: the loss must not grow with the batch": loss_sum} if reduction == "mean" else {}


def _grad_of(m, name, x, args, kwargs, cotangent):
    x = x.clone().requires_grad_()
    out = getattr(m, name)(x, *args, **kwargs)
    out.backward(cotangent)
    return x.grad


def _raises_value_error(m, probs, target):
    try:
        m.binary_cross_entropy(probs, target)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:
        return type(error).__name__
    return "no error"


# --- log_softmax --------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "log softmax(x)_i = x_i - log sum_j exp(x_j), along `dim`; exp of the result sums to 1 along `dim`.",
    "log sum_j exp(x_j) is one value per row along `dim`: keep that dim (keepdim=True) so that it broadcasts against every x_i.",
)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_log_softmax_matches_F_log_softmax(student, shape):
    x = rand_logits(*shape, seed=1)
    for dim in (-1, 0):
        assert_close(
            student.log_softmax(x, dim=dim),
            F.log_softmax(x, dim=dim),
            what=f"log_softmax(x, dim={dim})",
            mistakes={"matches softmax: the log is missing": F.softmax(x, dim=dim)},
        )


@pytest.mark.points(2)
@pytest.mark.hint(
    "softmax is unchanged if you subtract the same constant from every logit; pick one that keeps every exp() <= 1.",
    "exp(1000) overflows to inf in float32 (it does above about 88.7). Which logit of a row, subtracted from all of them, makes the largest exponent exactly exp(0) = 1?",
)
def test_log_softmax_is_finite_for_logits_of_1000_in_float32(student):
    x = torch.tensor([[1000.0, 0.0], [0.0, 1000.0], [-1000.0, -999.0]], dtype=torch.float32)
    got = student.log_softmax(x)
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        fail("non-finite output for large logits: exp(1000) overflows float32 (it is inf above ~88.7)")
    assert_close(got, F.log_softmax(x, dim=-1), exact_dtype=True, hints={"dtype": "A float32 input gives a float32 result: keep every intermediate in the input's dtype."})


@pytest.mark.points(2)
@pytest.mark.hint(
    "Compute log-probabilities without leaving log space: a probability of e^-200 is 0 in float32, its log is not -inf.",
    "Taking softmax first and then its log loses everything below about e^-103 in float32; x_i minus the log-sum-exp never forms such a probability.",
)
def test_log_softmax_stays_in_log_space(student):
    x = torch.tensor([[0.0, -200.0], [-150.0, 50.0]], dtype=torch.float32)
    want = F.log_softmax(x, dim=-1)
    got = student.log_softmax(x)
    if isinstance(got, torch.Tensor) and torch.isneginf(got).any():
        fail("-inf where a finite log-probability was expected: log(softmax(x)) underflows; stay in log space")
    assert_close(got, want, exact_dtype=True, hints={"dtype": "A float32 input gives a float32 result: keep every intermediate in the input's dtype."})


# --- binary cross-entropy on probabilities --------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "-[y log p + (1 - y) log(1 - p)] per element, then reduce as `reduction` says ('mean' over all elements).",
    "Compute the per-element loss first, with the shape of the input; only then apply the reduction: 'none' keeps it, 'sum' adds it up, 'mean' divides by its number of elements.",
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_F(student, reduction):
    probs, target = rand_probs(7, 5, seed=2), rand_binary(7, 5, seed=3)
    target[0] = rand_probs(5, seed=4)  # soft targets are allowed too
    want = F.binary_cross_entropy(probs, target, reduction=reduction)
    mistakes = {"lost the minus sign: the loss is never negative": -want}
    mistakes |= sum_instead_of_mean(reduction, F.binary_cross_entropy(probs, target, reduction="sum"))
    assert_close(student.binary_cross_entropy(probs, target, reduction=reduction), want, mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint(
    "torch clamps each log at -100, so a confident wrong answer costs 100; clamp before multiplying by the target (0·(-inf) is NaN).",
    "Clamp log(p) and log(1 - p) separately, from below, at -100; then weigh them by y and 1 - y, so an infinite log never meets a zero weight.",
)
def test_binary_cross_entropy_clamps_each_log_at_minus_100_like_torch(student):
    probs = torch.tensor([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], dtype=torch.float32)
    target = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0], dtype=torch.float32)
    got = student.binary_cross_entropy(probs, target, reduction="none")
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        fail("inf or NaN for a probability of exactly 0 or 1: torch clamps each log at -100")
    assert_close(got, F.binary_cross_entropy(probs, target, reduction="none"))


@pytest.mark.points(1)
@pytest.mark.hint(
    "torch refuses probabilities outside [0, 1]; check the input and raise ValueError before computing anything.",
    "Test the whole tensor at once (any element below 0 or above 1) and raise before the first log is taken.",
)
def test_binary_cross_entropy_raises_value_error_outside_0_1(student):
    target = torch.tensor([1.0, 0.0, 1.0])
    for bad in (-0.1, 1.1):
        probs = torch.tensor([0.5, bad, 0.2])
        raised = student.run(_raises_value_error, probs, target)
        if raised != "ValueError":
            fail(f"a probability of {bad} gave {raised}, expected a ValueError")
    ok = student.run(_raises_value_error, torch.tensor([0.0, 0.5, 1.0]), target)
    if ok != "no error":
        fail(f"valid probabilities 0, 0.5 and 1 raised {ok}")


# --- binary cross-entropy on logits ---------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "p = sigmoid(z); pos_weight (one weight per class, last dim) multiplies only the term of the positive targets.",
    "pos_weight has one entry per class and broadcasts along the last dim; it scales the y·log σ(z) term only, never the (1 - y) term.",
)
def test_binary_cross_entropy_with_logits_matches_F_with_and_without_pos_weight(student):
    logits, target = rand_logits(7, 5, seed=5), rand_binary(7, 5, seed=6)
    pos_weight = 0.5 + 3 * rand_probs(5, seed=7)
    for reduction in REDUCTIONS:
        want = F.binary_cross_entropy_with_logits(logits, target, reduction=reduction)
        mistakes = sum_instead_of_mean(reduction, F.binary_cross_entropy_with_logits(logits, target, reduction="sum"))
        got = student.binary_cross_entropy_with_logits(logits, target, reduction=reduction)
        assert_close(got, want, what=f"reduction={reduction!r}", mistakes=mistakes)
    want = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight, reduction="none")
    plain = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    assert_close(
        student.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight, reduction="none"),
        want,
        what="with pos_weight",
        mistakes={
            "pos_weight was ignored": plain,
            "pos_weight multiplies the whole loss, not only the positive term": pos_weight * plain,
            "pos_weight applied to the negative term": F.binary_cross_entropy_with_logits(
                -logits, 1 - target, pos_weight=pos_weight, reduction="none"
            ),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "Rewrite log σ(z) and log(1 - σ(z)) in terms of z with softplus / logaddexp, so that exp() never overflows and no log sees a 0.",
    "σ(z) = 1 / (1 + e^-z), so log σ(z) = -log(1 + e^-z): which torch function computes log(1 + e^t) without overflow, and what is log(1 - σ(z)) in the same form?",
)
def test_binary_cross_entropy_with_logits_is_exact_for_logits_of_100_and_1000_in_float32(student):
    logits = torch.tensor([100.0, -100.0, 1000.0, -1000.0, 1000.0, -1000.0, 0.0, 30.0], dtype=torch.float32)
    target = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.5], dtype=torch.float32)
    got = student.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        fail("loss is inf or NaN at |z| = 100 or 1000: log(sigmoid(z)) overflows or takes log(0)")
    clamped = F.binary_cross_entropy(torch.sigmoid(logits), target, reduction="none")
    assert_close(
        got,
        F.binary_cross_entropy_with_logits(logits, target, reduction="none"),
        mistakes={
            "matches log(sigmoid(z)) with the log clamped at -100: the loss must reach 1000 at |z| = 1000": clamped
        },
        exact_dtype=True,
        hints={"dtype": "A float32 input gives a float32 result: keep every intermediate in the input's dtype."},
    )


# --- nll_loss -----------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "nll_loss takes log-probabilities as they are (no softmax, no log): it picks -input[n, target[n]] along dim 1. "
    "Check what each torch loss expects: logits, probabilities or log-probabilities.",
    "With a (N, C, d1, ...) input, the targets have shape (N, d1, ...): gather along dim 1 with the targets unsqueezed at dim 1, then squeeze it away.",
)
def test_nll_loss_matches_F_on_both_layouts(student):
    cases = {
        "(N, C)": (randn(8, 5, seed=8), rand_labels(8, num_classes=5, seed=9)),
        "(N, C, T) with T != C": (randn(4, 5, 3, seed=10), rand_labels(4, 3, num_classes=5, seed=11)),
    }
    for layout, (scores, target) in cases.items():  # arbitrary scores: nll_loss must not renormalize them
        for reduction in REDUCTIONS:
            want = F.nll_loss(scores, target, reduction=reduction)
            mistakes = {
                "lost the minus sign": -want,
                "applied log_softmax inside nll_loss: it takes log-probabilities as they are": F.cross_entropy(
                    scores, target, reduction=reduction
                ),
            }
            mistakes |= sum_instead_of_mean(reduction, F.nll_loss(scores, target, reduction="sum"))
            got = student.nll_loss(scores, target, reduction=reduction)
            assert_close(got, want, what=f"{layout}, reduction={reduction!r}", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint(
    "An element whose target is ignore_index contributes 0 and does not count: 'mean' divides by the number of elements that count.",
    "Build a mask of the targets that count; an ignored target may be out of range (e.g. -100), so replace it by a valid index before gathering, then zero its loss.",
)
def test_nll_loss_leaves_ignored_targets_out_of_the_mean(student):
    log_probs = F.log_softmax(randn(9, 4, seed=12), dim=1)
    for ignore_index in (-100, 2):
        target = with_ignored(rand_labels(9, num_classes=4, seed=13), every=3, ignore_index=ignore_index)
        for reduction in REDUCTIONS:
            want = F.nll_loss(log_probs, target, ignore_index=ignore_index, reduction=reduction)
            mistakes = {}
            if reduction == "mean":
                summed = F.nll_loss(log_probs, target, ignore_index=ignore_index, reduction="sum")
                mistakes["ignored elements still counted in the mean's denominator"] = summed / len(target)
            if ignore_index >= 0:
                mistakes[f"class {ignore_index} was not ignored: read the ignore_index argument"] = F.nll_loss(
                    log_probs, target, reduction=reduction
                )
            got = student.nll_loss(log_probs, target, ignore_index=ignore_index, reduction=reduction)
            assert_close(got, want, what=f"ignore_index={ignore_index}, reduction={reduction!r}", mistakes=mistakes)


# --- cross_entropy ------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "cross_entropy = log_softmax over the classes (dim 1), then the negative log-likelihood of the targets.",
    "Reuse your own log_softmax and nll_loss: cross_entropy is the second applied to the first, with the classes in dim 1.",
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_F_with_class_indices(student, reduction):
    logits, target = rand_logits(8, 5, seed=14), rand_labels(8, num_classes=5, seed=15)
    want = F.cross_entropy(logits, target, reduction=reduction)
    mistakes = {"lost the minus sign": -want}
    mistakes |= sum_instead_of_mean(reduction, F.cross_entropy(logits, target, reduction="sum"))
    assert_close(student.cross_entropy(logits, target, reduction=reduction), want, mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint(
    "Check what each function expects: cross_entropy takes logits; nll_loss takes log-probabilities, not probabilities.",
    "Passing probabilities where log-probabilities are expected, or logits where probabilities are, gives a plausible number that is simply wrong: follow the types through.",
)
def test_cross_entropy_takes_logits_and_feeds_log_probabilities_to_nll(student):
    logits, target = rand_logits(8, 5, seed=16), rand_labels(8, num_classes=5, seed=17)
    probs = F.softmax(logits, dim=1)
    for reduction in ("mean", "none"):
        assert_close(
            student.cross_entropy(logits, target, reduction=reduction),
            F.cross_entropy(logits, target, reduction=reduction),
            what=f"reduction={reduction!r}",
            mistakes={
                "loss looks like a probability, not a log-probability: nll_loss was given softmax(x)": F.nll_loss(
                    probs, target, reduction=reduction
                ),
                "double softmax: the logits were turned into probabilities before a loss that expects logits": (
                    F.cross_entropy(probs, target, reduction=reduction)
                ),
            },
        )


@pytest.mark.points(2)
@pytest.mark.hint(
    "For sequences, cross_entropy wants (N, C, T): the classes are in dim 1, not in the last dim.",
    "For an input of shape (N, C, T), log_softmax must run along dim 1; running along the last dim normalizes over time steps instead of classes.",
)
def test_cross_entropy_on_sequences_wants_classes_in_dim_1(student):
    logits, target = rand_logits(4, 5, 3, seed=18), rand_labels(4, 3, num_classes=5, seed=19)
    last_dim = F.log_softmax(logits, dim=-1)
    for reduction in ("none", "mean"):
        wrong = -last_dim.gather(1, target.unsqueeze(1)).squeeze(1)
        assert_close(
            student.cross_entropy(logits, target, reduction=reduction),
            F.cross_entropy(logits, target, reduction=reduction),
            what=f"(N, C, T) = (4, 5, 3), reduction={reduction!r}",
            mistakes={
                "softmax taken over the last dim (time), not over the classes in dim 1": (
                    wrong if reduction == "none" else wrong.mean()
                )
            },
        )


@pytest.mark.points(2)
@pytest.mark.hint(
    "A floating target of the logits' shape holds class probabilities: -sum_c target_c·log softmax(x)_c per example; "
    "'mean' averages over the N·T examples, not over the N·C·T elements.",
    "Sum -target·log_softmax over dim 1 first (one loss per example, shape (N, T)); then reduce those examples as `reduction` says.",
)
def test_cross_entropy_with_probability_targets(student):
    cases = {
        "(N, C)": (rand_logits(6, 4, seed=20), rand_distribution(6, 4, seed=21)),
        "(N, C, T)": (rand_logits(3, 4, 5, seed=22), rand_distribution(3, 5, 4, seed=23).movedim(-1, 1)),
    }
    for layout, (logits, target) in cases.items():
        for smoothing in (0.0, 0.2):
            for reduction in REDUCTIONS:
                want = F.cross_entropy(logits, target, label_smoothing=smoothing, reduction=reduction)
                mistakes = {}
                if reduction == "mean":
                    total = F.cross_entropy(logits, target, label_smoothing=smoothing, reduction="sum")
                    mistakes["'mean' divided by every element (N·C·...), not by the number of examples"] = (
                        total / logits.numel()
                    )
                    mistakes["sum instead of mean: the loss must not grow with the batch"] = total
                if smoothing:
                    mistakes["label_smoothing was ignored"] = F.cross_entropy(logits, target, reduction=reduction)
                got = student.cross_entropy(logits, target, label_smoothing=smoothing, reduction=reduction)
                what = f"{layout} probability targets, label_smoothing={smoothing}, reduction={reduction!r}"
                assert_close(got, want, what=what, mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint(
    "torch mixes (1 - ε)·(the target's loss) with ε·(the mean over all C classes of -log p); "
    "ignored elements count for neither part, nor for the mean's denominator.",
    "Compute the two parts per element with the same mask of elements that count, mix them with (1 - ε) and ε, and divide by the number of counted elements only.",
)
def test_cross_entropy_label_smoothing_and_ignore_index_match_F(student):
    logits = rand_logits(4, 5, 3, seed=24)
    target = with_ignored(rand_labels(4, 3, num_classes=5, seed=25), every=4, ignore_index=-100)
    eps, num_classes = 0.3, 5
    log_probs = F.log_softmax(logits, dim=1)
    keep = target != -100
    one_hot = F.one_hot(target.clamp(min=0), num_classes).movedim(-1, 1).double()
    other_classes = one_hot * (1 - eps) + (1 - one_hot) * eps / (num_classes - 1)
    other_classes_loss = torch.where(keep, -(other_classes * log_probs).sum(1), 0.0)
    for reduction in REDUCTIONS:
        want = F.cross_entropy(logits, target, label_smoothing=eps, reduction=reduction)
        reduced = {
            "mean": other_classes_loss.sum() / keep.sum(),
            "sum": other_classes_loss.sum(),
            "none": other_classes_loss,
        }
        mistakes = {
            "ε/(C-1) given to the other classes; torch spreads ε/C over all C classes": reduced[reduction],
            "label_smoothing was ignored": F.cross_entropy(logits, target, reduction=reduction),
        }
        got = student.cross_entropy(logits, target, label_smoothing=eps, reduction=reduction)
        assert_close(got, want, what=f"label_smoothing={eps}, reduction={reduction!r}", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint(
    "The default reduction is the mean over examples: one example and 17 copies of it must give the same loss.",
    "Repeat one example 17 times and compare the loss with that of the single example: a sum grows 17 times, a mean does not.",
)
def test_losses_are_a_mean_over_the_batch_not_a_sum(student):
    logits, target = rand_logits(1, 5, seed=26), rand_labels(1, num_classes=5, seed=27)
    z, y = rand_logits(1, 4, seed=28), rand_binary(1, 4, seed=29)
    calls = {
        "cross_entropy": lambda k: student.cross_entropy(logits.repeat(k, 1), target.repeat(k)),
        "binary_cross_entropy_with_logits": lambda k: student.binary_cross_entropy_with_logits(
            z.repeat(k, 1), y.repeat(k, 1)
        ),
    }
    for name, call in calls.items():
        one, many = call(1), call(17)
        if isinstance(one, torch.Tensor) and isinstance(many, torch.Tensor) and one.numel() == many.numel() == 1:
            if math.isclose(many.item(), 17 * one.item(), rel_tol=1e-6) and one.item() != 0:
                fail(
                    f"{name}: loss scales with batch size (17 copies of one example give 17× its loss): sum instead of mean"
                )
        assert_close(many, one, what=f"{name} of 17 copies vs of one example")


# --- gradients ------------------------------------------------------------------------------------


GRADIENT_CASES = {
    "log_softmax": lambda: (rand_logits(4, 6, seed=30), (), {"dim": -1}, randn(4, 6, seed=31)),
    "binary_cross_entropy": lambda: (rand_probs(5, 3, seed=32), (rand_binary(5, 3, seed=33),), {}, None),
    "binary_cross_entropy_with_logits": lambda: (
        rand_logits(5, 3, seed=34),
        (rand_binary(5, 3, seed=35),),
        {"pos_weight": 0.5 + rand_probs(3, seed=36), "reduction": "sum"},
        None,
    ),
    "nll_loss": lambda: (
        F.log_softmax(rand_logits(6, 4, seed=37), dim=1),
        (with_ignored(rand_labels(6, num_classes=4, seed=38), every=4, ignore_index=-100),),
        {},
        None,
    ),
    "cross_entropy": lambda: (
        rand_logits(3, 5, 4, seed=39),
        (with_ignored(rand_labels(3, 4, num_classes=5, seed=40), every=5, ignore_index=-100),),
        {"label_smoothing": 0.1},
        None,
    ),
}


@pytest.mark.points(1)
@pytest.mark.hint(
    "Build the loss only from torch operations on the input (no .detach(), .item(), numpy or in-place tricks) and autograd does the rest.",
    "Any step outside torch (a float(), an .item(), a NumPy call, an in-place edit of a tensor autograd needs) cuts or corrupts the gradient; find it in your loss.",
)
@pytest.mark.parametrize("name", list(GRADIENT_CASES))
def test_loss_gradients_match_torch(student, name):
    x, args, kwargs, cotangent = GRADIENT_CASES[name]()
    xt = x.clone().requires_grad_()
    getattr(F, name)(xt, *args, **kwargs).backward(cotangent)
    got = student.run(_grad_of, name, x, args, kwargs, cotangent)
    if got is None:
        fail(f"{name}: no gradient reached the input; the computation left autograd somewhere")
    assert_close(got, xt.grad, what=f"gradient of {name}")
