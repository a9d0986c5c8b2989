"""Hidden tests of week 12, gan.py: discriminator, generator and pix2pix losses from logits.

Every loss is compared with its composition of F.binary_cross_entropy_with_logits (and F.l1_loss),
at ordinary logits and at |logit| ≥ 100, where a loss computed from sigmoid probabilities becomes
inf or clamps. Gradients with respect to the logits come from autograd through that composition.
The discriminator's loss on a real network pair is run in a probe: after its backward pass the
generator must have no gradient.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("gan")

EXTREME = torch.tensor([-300.0, -100.0, -30.0, 0.0, 30.0, 100.0, 300.0])  # float32
BATCHES = [(1, 1), (5, 3), (4, 7)]  # (real, fake) batch sizes: one example each, odd sizes, unequal sizes


def bce(logits, label):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(label)))


def from_probabilities(logits, label):
    """What -mean log σ (or log(1 - σ)) gives when computed from sigmoid probabilities (clamped at -100)."""
    return F.binary_cross_entropy(torch.sigmoid(logits), torch.full_like(logits, float(label)))


def _g_loss_grad(m, logits, kind):
    leaf = logits.clone().requires_grad_()
    m.g_loss(leaf, kind).backward()
    return leaf.grad


def _d_loss_grads(m, real, fake):
    real, fake = real.clone().requires_grad_(), fake.clone().requires_grad_()
    m.d_loss(real, fake).backward()
    return real.grad, fake.grad


def _unknown_kind(m, logits):
    try:
        m.g_loss(logits, "wasserstein")
    except ValueError:
        return "ValueError"
    return "nothing"


def _discriminator_step(m, real, z):
    torch.manual_seed(4)
    gen = nn.Sequential(nn.Linear(z.shape[1], 6), nn.Tanh(), nn.Linear(6, real.shape[1])).double()
    disc = nn.Sequential(nn.Linear(real.shape[1], 5), nn.LeakyReLU(0.2), nn.Linear(5, 1)).double()
    fake = gen(z)
    loss = m.discriminator_loss(disc, real, fake)
    loss.backward()
    gen_grads = [p.grad for p in gen.parameters()]
    disc_grads = [p.grad for p in disc.parameters()]
    for p in disc.parameters():
        p.grad = None
    real_logits, fake_logits = disc(real), disc(fake.detach())
    ones, zeros = torch.ones_like(real_logits), torch.zeros_like(fake_logits)
    want = F.binary_cross_entropy_with_logits(real_logits, ones) + F.binary_cross_entropy_with_logits(
        fake_logits, zeros
    )
    want_grads = torch.autograd.grad(want, list(disc.parameters()))
    return {
        "loss": loss.detach(),
        "want": want.detach(),
        "generator_has_grads": any(g is not None and bool(g.abs().sum() > 0) for g in gen_grads),
        "disc_grads": disc_grads,
        "want_grads": list(want_grads),
    }


# --- d_loss ---------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "D's loss is a binary cross-entropy on each batch: real logits against label 1, fake logits against label 0; "
    "add the two means."
)
@pytest.mark.parametrize("sizes", BATCHES, ids=str)
def test_d_loss_matches_bce_with_logits(student, sizes):
    real, fake = randn(sizes[0], 1, seed=1, scale=2.0), randn(sizes[1], 1, seed=2, scale=2.0) - 1.0
    want = bce(real, 1) + bce(fake, 0)
    assert_close(
        student.d_loss(real, fake),
        want,
        what="discriminator loss",
        mistakes={
            "the labels are swapped: real data is labelled 1 and fakes 0": bce(real, 0) + bce(fake, 1),
            "the two terms were averaged: the loss is their sum": want / 2,
            "the fake term was subtracted: both cross-entropies are added": bce(real, 1) - bce(fake, 0),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("Rewrite log σ(l) with softplus (or use binary_cross_entropy_with_logits): never sigmoid, then log.")
def test_d_loss_is_finite_and_exact_at_extreme_logits(student):
    got = student.d_loss(EXTREME, EXTREME.flip(0))
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        fail("the loss is not finite at |logit| = 100: it was computed from probabilities")
    assert_close(
        got,
        bce(EXTREME, 1) + bce(EXTREME.flip(0), 0),
        what="discriminator loss at logits ±100 and ±300",
        mistakes={
            "matches cross-entropy on sigmoid probabilities, which clamps each log at -100": from_probabilities(
                EXTREME, 1
            )
            + from_probabilities(EXTREME.flip(0), 0)
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint("Build the loss from torch operations on both logit tensors; each term is a mean over its batch.")
def test_d_loss_gradients_match_autograd(student):
    real, fake = randn(3, 1, seed=3), randn(6, 1, seed=4)
    leaves = [real.clone().requires_grad_(), fake.clone().requires_grad_()]
    want = torch.autograd.grad(bce(leaves[0], 1) + bce(leaves[1], 0), leaves)
    grads = student.run(_d_loss_grads, real, fake)
    if any(g is None for g in grads):
        fail("the real or the fake logits received no gradient")
    assert_close(list(grads), list(want), what="gradients with respect to (real_logits, fake_logits)")


# --- g_loss ---------------------------------------------------------------------------------------


def g_mistakes(kind, logits):
    nonsat, minimax = bce(logits, 1), -bce(logits, 0)
    if kind == "nonsat":
        return {
            "this is the minimax loss mean log(1 - σ): non-saturating is -mean log σ": minimax,
            "the sign is flipped: the generator minimizes -mean log σ(fake_logits)": -nonsat,
        }
    return {
        "this is the non-saturating loss: minimax is mean log(1 - σ(fake_logits))": nonsat,
        "the sign is flipped: the minimax generator minimizes mean log(1 - σ), which is ≤ 0": -minimax,
    }


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Non-saturating: the generator wants D to call its fakes real (label 1). Minimax: it minimizes the negative of "
    "D's fake term."
)
@pytest.mark.parametrize("kind", ["nonsat", "minimax"])
@pytest.mark.parametrize("batch", [1, 7])
def test_g_loss_matches_bce_with_logits(student, kind, batch):
    logits = randn(batch, 1, seed=5 + batch, scale=2.0)
    want = bce(logits, 1) if kind == "nonsat" else -bce(logits, 0)
    assert_close(student.g_loss(logits, kind), want, what=f"g_loss ({kind})", mistakes=g_mistakes(kind, logits))


@pytest.mark.points(1)
@pytest.mark.hint("The default kind is the non-saturating loss.")
def test_g_loss_defaults_to_non_saturating(student):
    logits = randn(4, 1, seed=8)
    assert_close(
        student.g_loss(logits), bce(logits, 1), what="g_loss(fake_logits)", mistakes=g_mistakes("nonsat", logits)
    )


@pytest.mark.points(2)
@pytest.mark.hint("log σ(l) and log(1 - σ(l)) both have softplus forms that never overflow.")
@pytest.mark.parametrize("kind", ["nonsat", "minimax"])
def test_g_loss_is_finite_and_exact_at_extreme_logits(student, kind):
    got = student.g_loss(EXTREME, kind)
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        fail("the loss is not finite at |logit| = 100: it was computed from probabilities")
    want = bce(EXTREME, 1) if kind == "nonsat" else -bce(EXTREME, 0)
    clamped = from_probabilities(EXTREME, 1) if kind == "nonsat" else -from_probabilities(EXTREME, 0)
    assert_close(
        got,
        want,
        what=f"g_loss ({kind}) at logits ±100 and ±300",
        mistakes={"matches cross-entropy on sigmoid probabilities, which clamps each log at -100": clamped},
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "Where D confidently rejects the fakes (very negative logits), log(1 - σ) is flat but -log σ is steep: the two "
    "losses differ exactly there."
)
def test_non_saturating_gradient_exceeds_minimax_when_d_rejects(student):
    logits = torch.tensor([[-8.0], [-6.0], [-10.0]], dtype=torch.float64)
    grads = {}
    for kind, want_fn in (("nonsat", lambda t: bce(t, 1)), ("minimax", lambda t: -bce(t, 0))):
        leaf = logits.clone().requires_grad_()
        (want,) = torch.autograd.grad(want_fn(leaf), leaf)
        got = student.run(_g_loss_grad, logits, kind)
        if got is None:
            fail(f"the logits received no gradient from g_loss ({kind})")
        assert_close(got, want, what=f"gradient of g_loss ({kind}) with respect to the logits")
        grads[kind] = got.abs()
    if not bool((grads["nonsat"] > 100 * grads["minimax"]).all()):
        fail("where D rejects the fakes, the non-saturating gradient should be far larger than the minimax one")


@pytest.mark.points(1)
@pytest.mark.hint("Only 'nonsat' and 'minimax' are generator losses; raise ValueError for anything else.")
def test_g_loss_rejects_an_unknown_kind(student):
    raised = student.run(_unknown_kind, randn(3, 1, seed=9))
    if raised != "ValueError":
        fail(f"kind='wasserstein' gave {raised}, expected a ValueError")


# --- pix2pix_g_loss -------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("pix2pix adds to the non-saturating loss lam times the mean absolute difference to the target.")
@pytest.mark.parametrize("lam", [100.0, 0.5])
@pytest.mark.parametrize("shape", [(1, 1, 2, 3), (3, 2, 5, 5)], ids=str)
def test_pix2pix_g_loss_matches_bce_plus_l1(student, lam, shape):
    logits = randn(shape[0], 1, 3, 3, seed=10, scale=2.0)
    fake, target = randn(*shape, seed=11), randn(*shape, seed=12)
    adversarial = bce(logits, 1)
    want = adversarial + lam * F.l1_loss(fake, target)
    assert_close(
        student.pix2pix_g_loss(logits, fake, target, lam),
        want,
        what="pix2pix generator loss",
        mistakes={
            "the L1 term was summed: it is a mean over every entry": adversarial
            + lam * F.l1_loss(fake, target, reduction="sum"),
            "a squared (L2) distance: pix2pix uses the absolute (L1) distance": adversarial
            + lam * F.mse_loss(fake, target),
            "lam does not weight the L1 term": adversarial + F.l1_loss(fake, target),
            "the adversarial term is the minimax loss: pix2pix uses the non-saturating one": -bce(logits, 0)
            + lam * F.l1_loss(fake, target),
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint("lam defaults to 100; with a perfect reconstruction only the adversarial term is left.")
def test_pix2pix_g_loss_default_lam_and_perfect_reconstruction(student):
    logits = randn(2, 1, seed=13)
    fake, target = randn(2, 3, 4, seed=14), randn(2, 3, 4, seed=15)
    assert_close(
        student.pix2pix_g_loss(logits, fake, target),
        bce(logits, 1) + 100.0 * F.l1_loss(fake, target),
        what="pix2pix loss with the default lam",
    )
    assert_close(
        student.pix2pix_g_loss(EXTREME, target, target),
        bce(EXTREME, 1),
        what="pix2pix loss when fake == target, at extreme logits",
    )


# --- discriminator_loss ---------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("The discriminator's loss should update the discriminator only: which network should it reach?")
@pytest.mark.parametrize("sizes", BATCHES, ids=str)
def test_discriminator_loss_does_not_reach_the_generator(student, sizes):
    real, z = randn(sizes[0], 4, seed=16), randn(sizes[1], 3, seed=17)
    case = student.run(_discriminator_step, real, z)
    if case["generator_has_grads"]:
        fail("the generator received gradient from the discriminator loss")
    assert_close(case["loss"], case["want"], what="discriminator loss on D(real) and D(fake)")


@pytest.mark.points(1)
@pytest.mark.hint("Both terms of the loss reach the discriminator's parameters, the fake one included.")
def test_discriminator_loss_gradients_reach_the_discriminator(student):
    case = student.run(_discriminator_step, randn(5, 4, seed=18), randn(6, 3, seed=19))
    if any(g is None for g in case["disc_grads"]):
        fail("some of the discriminator's parameters received no gradient")
    assert_close(case["disc_grads"], case["want_grads"], what="gradients of the discriminator's parameters")
