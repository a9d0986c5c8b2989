"""Hidden tests of week 13, contrastive.py: InfoNCE, NT-Xent and the triplet loss.

InfoNCE is compared with F.cross_entropy((ẑ1 @ ẑ2ᵀ) / τ, arange(N)) on L2-normalised
embeddings, NT-Xent with the same cross-entropy over the 2N views with the self-similarity set
to −inf, and the triplet loss with F.triplet_margin_loss; gradients with autograd's through
probes, and both contrastive losses at τ = 0.01 in float32.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("contrastive")

SIZES = [(1, 3), (7, 5), (16, 8)]


def infonce_ref(z1, z2, tau, normalize=True, scale="divide"):
    if normalize:
        z1, z2 = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    sim = z1 @ z2.T
    logits = sim / tau if scale == "divide" else sim * tau
    return F.cross_entropy(logits, torch.arange(z1.shape[0]))


def ntxent_ref(z1, z2, tau, fill=float("-inf")):
    n = z1.shape[0]
    v = F.normalize(torch.cat([z1, z2]), dim=-1)
    logits = v @ v.T / tau
    if fill is not None:
        logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), fill)
    return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))


def _grads(m, name, z1, z2, tau):
    z1, z2 = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    getattr(m, name)(z1, z2, tau).backward()
    return [z1.grad, z2.grad]


def torch_grads(fn, z1, z2, tau):
    z1, z2 = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    fn(z1, z2, tau).backward()
    return [z1.grad, z2.grad]


def views(N, D, seed, dtype=torch.float64):
    z1 = randn(N, D, seed=seed, dtype=dtype, scale=3.0)
    z2 = z1 + randn(N, D, seed=seed + 1, dtype=dtype, scale=1.5)
    return z1, z2


# --- info_nce -----------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Normalise each embedding to unit length, divide the (N, N) similarities by τ, and classify row i as column i.")
@pytest.mark.parametrize("sizes", SIZES, ids=str)
@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_info_nce_matches_cross_entropy_of_cosine_logits(student, sizes, tau):
    N, D = sizes
    z1, z2 = views(N, D, seed=N)
    want = infonce_ref(z1, z2, tau)
    got = student.info_nce(z1, z2, tau)
    if isinstance(got, torch.Tensor) and got.dim() != 0:
        fail(f"the loss has shape {tuple(got.shape)}: a single number (0-d tensor) was expected")
    mistakes = {}
    if N > 1:  # one pair: a softmax over a single logit is 1, so the loss is 0 whatever the logits
        mistakes = {
            "embeddings not L2-normalised: the logits are raw dot products": infonce_ref(z1, z2, tau, normalize=False),
            "similarities multiplied by τ instead of divided": infonce_ref(z1, z2, tau, scale="multiply"),
            "summed over the N rows; the loss is their mean": infonce_ref(z1, z2, tau) * N,
            "z1[i] was matched against the z1 rows, not the z2 rows": infonce_ref(z1, z1, tau),
        }
    assert_close(got, want, what="InfoNCE", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint("Build the loss from differentiable torch operations (F.normalize, matmul, F.cross_entropy).")
@pytest.mark.parametrize("sizes", SIZES[1:], ids=str)
def test_info_nce_gradients_match_autograd(student, sizes):
    N, D = sizes
    z1, z2 = views(N, D, seed=10 + N)
    assert_close(student.run(_grads, "info_nce", z1, z2, 0.2), torch_grads(infonce_ref, z1, z2, 0.2), what="gradients of z1, z2")


@pytest.mark.points(2)
@pytest.mark.hint("At τ = 0.01 the logits reach ±100: exp overflows float32, so stay in log space (F.cross_entropy / logsumexp).")
def test_info_nce_is_stable_at_a_small_temperature_in_float32(student):
    z1, z2 = views(6, 4, seed=20, dtype=torch.float32)
    z1[0] = z2[1] * 4  # an almost perfect negative
    got = student.info_nce(z1, z2, 0.01)
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        fail("InfoNCE is inf or NaN at τ = 0.01 in float32: exp of the logits overflowed")
    assert_close(got, infonce_ref(z1, z2, 0.01), rtol=1e-5, atol=1e-4, what="InfoNCE at τ = 0.01")


# --- nt_xent ------------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Stack the 2N views; each row's positive is its partner view (i ↔ i + N); exclude each view's similarity "
    "with itself by setting it to −inf before the softmax."
)
@pytest.mark.parametrize("sizes", SIZES, ids=str)
def test_nt_xent_matches_masked_cross_entropy(student, sizes):
    N, D = sizes
    z1, z2 = views(N, D, seed=30 + N)
    tau = 0.3
    want = ntxent_ref(z1, z2, tau)
    got = student.nt_xent(z1, z2, tau)
    if isinstance(got, torch.Tensor) and got.dim() != 0:
        fail(f"the loss has shape {tuple(got.shape)}: a single number (0-d tensor) was expected")
    mistakes = {
        "self-similarity set to 0, not −inf: exp(0) still counts in the softmax": ntxent_ref(z1, z2, tau, fill=0.0),
        "self-similarity not masked: each view competes with itself": ntxent_ref(z1, z2, tau, fill=None),
    }
    if N > 1:  # one pair: each view's only candidate is its partner, so InfoNCE and NT-Xent are both 0
        mistakes["only the N rows of z1 were used, not all 2N views"] = infonce_ref(z1, z2, tau)
    assert_close(got, want, what="NT-Xent", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint("−inf in a logit gives it probability 0 and no gradient: the masked entries must not produce NaN gradients.")
@pytest.mark.parametrize("sizes", SIZES[1:], ids=str)
def test_nt_xent_gradients_match_autograd(student, sizes):
    N, D = sizes
    z1, z2 = views(N, D, seed=40 + N)
    assert_close(student.run(_grads, "nt_xent", z1, z2, 0.2), torch_grads(ntxent_ref, z1, z2, 0.2), what="gradients of z1, z2")


@pytest.mark.points(2)
@pytest.mark.hint("At τ = 0.01 the logits reach 100: exponentiating by hand overflows float32; use a log-softmax or F.cross_entropy.")
def test_nt_xent_is_stable_at_a_small_temperature_in_float32(student):
    z1, z2 = views(5, 4, seed=50, dtype=torch.float32)
    got = student.nt_xent(z1, z2, 0.01)
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        fail("NT-Xent is inf or NaN at τ = 0.01 in float32")
    assert_close(got, ntxent_ref(z1, z2, 0.01), rtol=1e-5, atol=1e-4, what="NT-Xent at τ = 0.01")


# --- triplet_loss -------------------------------------------------------------------------------------


def triplets(N, D, seed):
    a = randn(N, D, seed=seed)
    return a, a + randn(N, D, seed=seed + 1, scale=0.8), a + randn(N, D, seed=seed + 2, scale=1.0)


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("max(0, d(a, p) − d(a, n) + margin) with Euclidean (not squared) distances, averaged over the triplets.")
@pytest.mark.parametrize("sizes", SIZES, ids=str)
@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_triplet_loss_matches_torch(student, sizes, margin):
    N, D = sizes
    # 94 + N: the one triplet of (1, 3) misses both margins (seed 61 met 0.3: a loss of 0, squared distances or not)
    a, p, n = triplets(N, D, seed=94 + N)
    want = F.triplet_margin_loss(a, p, n, margin=margin)
    d_ap, d_an = (a - p).norm(dim=-1), (a - n).norm(dim=-1)
    got = student.triplet_loss(a, p, n, margin)
    if isinstance(got, torch.Tensor) and got.dim() != 0:
        fail(f"the loss has shape {tuple(got.shape)}: a single number (0-d tensor) was expected")
    mistakes = {"squared distances were used": (d_ap**2 - d_an**2 + margin).clamp(min=0).mean()}
    if (d_ap - d_an + margin < 0).any():  # no triplet meets the margin: the hinge clips nothing
        mistakes["no hinge: triplets that already satisfy the margin count negatively"] = (d_ap - d_an + margin).mean()
    if N > 1:  # one triplet: its sum is its mean
        mistakes["summed over the triplets; the loss is their mean"] = (d_ap - d_an + margin).clamp(min=0).sum()
    assert_close(got, want, atol=2e-5, rtol=1e-5, what="triplet loss", mistakes=mistakes)


def _triplet_grads(m, a, p, n, margin):
    a, p, n = (t.clone().requires_grad_() for t in (a, p, n))
    m.triplet_loss(a, p, n, margin).backward()
    return [a.grad, p.grad, n.grad]


@pytest.mark.points(2)
@pytest.mark.hint("Triplets already separated by the margin contribute 0 and no gradient; the others pull p in and push n out.")
def test_triplet_loss_gradients_match_torch_including_satisfied_triplets(student):
    a, p, n = triplets(9, 4, seed=70)
    n[:3] = a[:3] + 10.0  # far negatives: these triplets are satisfied
    leaves = [t.clone().requires_grad_() for t in (a, p, n)]
    F.triplet_margin_loss(*leaves, margin=0.5).backward()
    assert_close(student.run(_triplet_grads, a, p, n, 0.5), [t.grad for t in leaves], atol=2e-5, rtol=1e-4,
                 what="gradients of a, p, n")


@pytest.mark.points(1)
@pytest.mark.hint("When every negative is farther than every positive by more than the margin, nothing is left to learn.")
def test_triplet_loss_is_zero_when_every_margin_is_met(student):
    a, p, _ = triplets(5, 3, seed=80)
    n = a + 50.0
    assert_close(student.triplet_loss(a, p, n, 1.0), torch.tensor(0.0, dtype=torch.float64), what="loss of satisfied triplets")
