"""Hidden tests of week 13, semi_supervised.py: pseudo-labels, importance weights and unbiased MMD².

The pseudo-label loss is compared with F.cross_entropy against detached argmax targets, masked
and divided by N, and its gradient with autograd's; importance weights with exp and with N times
torch.softmax; MMD² with a double sum over torch.cdist kernels, and by its average over 200 seeded
same-distribution pairs (≈ 0, where the biased estimate is clearly positive) and under a shift.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, rand_logits, randn

pytestmark = pytest.mark.exercise("semi_supervised")


def pl_ref(logits, threshold, denominator="all", soft=False, strict=False):
    probs = logits.detach().softmax(-1)
    conf, target = probs.max(-1)
    mask = (conf > threshold) if strict else (conf >= threshold)
    if soft:
        per_row = -(logits.softmax(-1) * logits.log_softmax(-1)).sum(-1)
    else:
        per_row = F.cross_entropy(logits, target, reduction="none")
    total = (per_row * mask.to(logits.dtype)).sum()
    if denominator == "all":
        return total / logits.shape[0]
    return total / mask.sum().clamp(min=1)


def confident_logits(N, C, seed):
    """Logits where some rows are confident (max prob > 0.9) and others not."""
    logits = rand_logits(N, C, seed=seed)
    logits[::2, 0] += 8.0
    return logits


def _pl_grad(m, logits, threshold):
    leaf = logits.clone().requires_grad_()
    m.pseudo_label_loss(leaf, threshold).backward()
    return leaf.grad


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Rows whose top probability reaches the threshold get their argmax as a hard target; sum their cross-entropies "
    "and divide by the number of ALL unlabelled rows."
)
@pytest.mark.parametrize("sizes", [(1, 3), (7, 5), (20, 4)], ids=str)
def test_pseudo_label_loss_matches_masked_cross_entropy(student, sizes):
    N, C = sizes
    logits = confident_logits(N, C, seed=N)
    want = pl_ref(logits, 0.9)
    mistakes = {"soft targets (the probabilities) were used instead of the argmax": pl_ref(logits, 0.9, soft=True)}
    # every row confident (as the one row of (1, 3)): the threshold drops none, and N rows are the confident ones
    if (logits.softmax(-1).amax(-1) < 0.9).any():
        mistakes["divided by the number of confident rows, not by all N rows"] = pl_ref(logits, 0.9, denominator="confident")
        mistakes["every row counted: the confidence threshold was not applied"] = pl_ref(logits, 0.0)
    assert_close(student.pseudo_label_loss(logits, 0.9), want, what="pseudo-label loss", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint("The pseudo-label is a constant target: no gradient may flow through the probabilities that chose it.")
@pytest.mark.parametrize("sizes", [(7, 5), (20, 4)], ids=str)
def test_pseudo_label_loss_gradient_treats_targets_as_constants(student, sizes):
    N, C = sizes
    logits = confident_logits(N, C, seed=10 + N)
    leaf = logits.clone().requires_grad_()
    pl_ref(leaf, 0.9).backward()
    soft = logits.clone().requires_grad_()
    pl_ref(soft, 0.9, soft=True).backward()
    assert_close(student.run(_pl_grad, logits, 0.9), leaf.grad, what="gradient of the logits",
                 mistakes={"gradient flowed into soft targets (the probabilities)": soft.grad})


@pytest.mark.points(1)
@pytest.mark.hint("With no confident row the loss is 0, not 0/0; and a confidence exactly equal to the threshold counts.")
def test_pseudo_label_loss_with_no_confident_row_and_at_the_threshold(student):
    logits = torch.zeros(4, 3, dtype=torch.float64)
    got = student.pseudo_label_loss(logits, 0.9)
    if isinstance(got, torch.Tensor) and torch.isnan(got).any():
        fail("NaN when no row is confident: divided by a count of 0")
    assert_close(got, torch.tensor(0.0, dtype=torch.float64), what="loss with no confident row")
    ties = torch.tensor([[0.0, 0.0], [2.0, -1.0]], dtype=torch.float64)  # row 0: confidence exactly 0.5
    want = pl_ref(ties, 0.5)
    assert_close(student.pseudo_label_loss(ties, 0.5), want, what="loss with a confidence equal to the threshold",
                 mistakes={"a confidence equal to the threshold was left out (> instead of >=)": pl_ref(ties, 0.5, strict=True)})


# --- importance_weights ----------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("The classifier's logit is log p(target|x) − log p(source|x); the density ratio is its exponential.")
@pytest.mark.parametrize("n", [1, 7, 33], ids=str)
def test_importance_weights_are_exp_of_the_logits(student, n):
    logits = rand_logits(n, seed=20 + n, scale=1.5)
    want = torch.exp(logits)
    assert_close(student.importance_weights(logits), want, what="weights", mistakes={
        "σ(logit) is p(target|x), not the ratio p(target|x) / p(source|x)": torch.sigmoid(logits),
        "the ratio is inverted (source over target)": torch.exp(-logits),
    })


@pytest.mark.points(2)
@pytest.mark.hint("Self-normalised weights are rescaled to average 1; N·softmax(logits) computes them without overflow.")
@pytest.mark.parametrize("n", [1, 7, 33], ids=str)
def test_importance_weights_self_normalised_average_one(student, n):
    logits = rand_logits(n, seed=30 + n, scale=1.5)
    w = torch.exp(logits)
    want = w / w.mean()
    mistakes = {}
    if n > 1:  # one weight: its sum is its mean, and both normalisations give 1
        mistakes["normalised to sum to 1, not to average 1"] = w / w.sum()
    assert_close(student.importance_weights(logits, self_normalize=True), want, what="self-normalised weights",
                 mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint("exp(1000) overflows; the self-normalised weights only need differences of logits (a softmax).")
def test_importance_weights_self_normalised_are_finite_for_huge_logits(student):
    logits = torch.tensor([1000.0, 999.0, -5.0, 998.0])
    got = student.importance_weights(logits, self_normalize=True)
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        fail("self-normalised weights are inf or NaN for logits near 1000: exp overflowed")
    assert_close(got, torch.softmax(logits, 0) * 4, what="self-normalised weights of large logits")


# --- mmd2_unbiased ---------------------------------------------------------------------------------------


def mmd_ref(x, y, sigma, biased=False, two_sigma_sq=True):
    def k(a, b):
        d2 = torch.cdist(a, b) ** 2
        return torch.exp(-d2 / (2 * sigma**2 if two_sigma_sq else sigma**2))

    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    if biased:
        return kxx.mean() + kyy.mean() - 2 * kxy.mean()
    sxx = sum(kxx[i, j] for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    syy = sum(kyy[i, j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    return sxx + syy - 2 * kxy.mean()


def _mmd_average(m, pairs, sigma):
    return torch.stack([m.mmd2_unbiased(x, y, sigma) for x, y in pairs])


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Gaussian kernel exp(−‖a − b‖² / (2σ²)); average k(x_i, x_j) over i ≠ j (m(m − 1) pairs), the same for y, "
    "and subtract twice the mean of the cross kernel."
)
@pytest.mark.parametrize("sizes", [(2, 2, 1), (5, 8, 3), (12, 9, 4)], ids=str)
def test_mmd2_unbiased_matches_the_double_sum(student, sizes):
    m, n, D = sizes
    x, y = randn(m, D, seed=40 + m), randn(n, D, seed=50 + n) + 0.5
    sigma = 1.3
    want = mmd_ref(x, y, sigma)
    assert_close(student.mmd2_unbiased(x, y, sigma), want, what="MMD²", mistakes={
        "diagonal terms k(x_i, x_i) = 1 were included (the biased estimate)": mmd_ref(x, y, sigma, biased=True),
        "the kernel divides by σ², not 2σ²": mmd_ref(x, y, sigma, two_sigma_sq=False),
    })


@pytest.mark.points(2)
@pytest.mark.hint("Leaving out i = j makes the estimate unbiased: over many same-distribution samples it averages to 0.")
def test_mmd2_unbiased_averages_zero_for_the_same_distribution(student):
    pairs = [(randn(6, 2, seed=100 + 2 * s), randn(6, 2, seed=101 + 2 * s)) for s in range(200)]
    values = student.run(_mmd_average, pairs, 1.0)
    mean, se = float(values.mean()), float(values.std() / math.sqrt(len(values)))
    biased = float(torch.stack([mmd_ref(x, y, 1.0, biased=True) for x, y in pairs[:20]]).mean())
    if abs(mean) > 4 * se:
        fail(f"the average over 200 same-distribution pairs is {mean:.4f} ± {se:.4f}, not 0: is the diagonal left out? "
             f"(the biased estimate averages about {biased:.3f})")


@pytest.mark.points(1)
@pytest.mark.hint("Samples from shifted distributions must give a clearly positive MMD².")
def test_mmd2_unbiased_is_positive_under_a_shift(student):
    x, y = randn(30, 2, seed=300), randn(30, 2, seed=301) + torch.tensor([2.0, 0.0], dtype=torch.float64)
    got = student.mmd2_unbiased(x, y, 1.0)
    assert_close(got, mmd_ref(x, y, 1.0), what="MMD² under a shift")
    if float(got) <= 0.1:
        fail(f"MMD² is {float(got):.4f} under a shift of 2σ")
