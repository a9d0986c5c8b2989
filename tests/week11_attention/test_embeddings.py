"""Hidden tests of week 11, embeddings.py: embedding lookup and the skip-gram negative-sampling loss.

`embedding` is compared with F.embedding and with one_hot(idx) @ W on seeded ids of three shapes,
its gradient (repeated ids accumulate; the padding row gets none) with F.embedding's through a
probe. The skip-gram loss is compared with the same loss written with
F.binary_cross_entropy_with_logits (target 1 for the true context, 0 for each negative), in float64
and at dot products of ±50 and ±200 in float32, and its gradients with autograd's.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, rand_labels, randn

pytestmark = pytest.mark.exercise("embeddings")

ID_SHAPES = [(1,), (7,), (2, 3, 4)]


def _embedding_grad(m, idx, W, padding_idx):
    W = W.clone().requires_grad_()
    out = m.embedding(idx, W, padding_idx=padding_idx)
    out.backward(torch.linspace(-2.0, 2.0, out.numel(), dtype=out.dtype).reshape(out.shape))
    return W.grad


def torch_embedding_grad(idx, W, padding_idx):
    leaf = W.clone().requires_grad_()
    out = F.embedding(idx, leaf, padding_idx=padding_idx)
    out.backward(torch.linspace(-2.0, 2.0, out.numel(), dtype=out.dtype).reshape(out.shape))
    return leaf.grad


def _error_for_ids(m, idx, W):
    try:
        m.embedding(idx, W)
    except NotImplementedError:
        raise
    except IndexError:
        return "IndexError"
    except Exception as error:  # noqa: BLE001 - any other error is reported by name
        return type(error).__name__
    return "no error"


def bce_form(center, context, negatives, W_in, W_out, reduce_batch="mean", reduce_neg="sum", neg_sign=1.0):
    """The skip-gram loss through F.binary_cross_entropy_with_logits; the keyword arguments name mistakes."""
    v = F.embedding(center, W_in)
    pos = (F.embedding(context, W_out) * v).sum(-1)
    neg = (F.embedding(negatives, W_out) * v[:, None, :]).sum(-1)
    pos_loss = F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos), reduction="none")
    neg_loss = F.binary_cross_entropy_with_logits(neg_sign * neg, torch.zeros_like(neg), reduction="none")
    per_example = pos_loss + getattr(neg_loss, reduce_neg)(-1)
    return getattr(per_example, reduce_batch)()


def skipgram_inputs(B, K, D, V, seed, scale=0.5, dtype=torch.float64):
    center = rand_labels(B, num_classes=V, seed=seed)
    context = rand_labels(B, num_classes=V, seed=seed + 1)
    negatives = rand_labels(B, K, num_classes=V, seed=seed + 2)
    W_in = randn(V, D, seed=seed + 3, scale=scale, dtype=dtype)
    W_out = randn(V, D, seed=seed + 4, scale=scale, dtype=dtype)
    return center, context, negatives, W_in, W_out


def _skipgram_grads(m, center, context, negatives, W_in, W_out):
    W_in, W_out = W_in.clone().requires_grad_(), W_out.clone().requires_grad_()
    m.skipgram_neg_loss(center, context, negatives, W_in, W_out).backward()
    return [W_in.grad, W_out.grad]


# --- embedding -------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Row i of W represents id i: index W with the id tensor; the result has shape idx.shape + (D,).")
@pytest.mark.parametrize("shape", ID_SHAPES, ids=str)
def test_embedding_matches_F_embedding_and_one_hot_matmul(student, shape):
    V, D = 11, 5
    idx = rand_labels(*shape, num_classes=V, seed=1)
    W = randn(V, D, seed=2)
    want = F.embedding(idx, W)
    got = student.embedding(idx, W)
    assert_close(got, want, what=f"embedding of ids {tuple(shape)}")
    assert_close(got, F.one_hot(idx, V).double() @ W, what="compared with one_hot(idx) @ W")


@pytest.mark.points(2)
@pytest.mark.hint(
    "An id that appears several times receives the sum of the gradients of all its positions (as one_hot @ W gives)."
)
@pytest.mark.parametrize("shape", ID_SHAPES, ids=str)
def test_embedding_gradient_accumulates_repeated_ids(student, shape):
    V, D = 4, 3
    idx = rand_labels(*shape, num_classes=V, seed=3)
    W = randn(V, D, seed=4)
    assert_close(student.run(_embedding_grad, idx, W, None), torch_embedding_grad(idx, W, None), what="gradient of W")


@pytest.mark.points(2)
@pytest.mark.hint(
    "The padding_idx row is looked up like any other, but it must receive no gradient: cut the gradient path at the "
    "positions holding padding_idx (a negative padding_idx counts from the end)."
)
@pytest.mark.parametrize("padding_idx", [0, 3, -1], ids=str)
def test_embedding_padding_row_gets_no_gradient(student, padding_idx):
    V, D = 6, 4
    idx = rand_labels(3, 7, num_classes=V, seed=5)
    idx[:, 0] = padding_idx % V
    W = randn(V, D, seed=6)
    want = torch_embedding_grad(idx, W, padding_idx)
    got = student.run(_embedding_grad, idx, W, padding_idx)
    if isinstance(got, torch.Tensor) and got.shape == want.shape and got[padding_idx].abs().sum() > 0:
        fail(f"the padding row {padding_idx} received a gradient: padding must never train")
    assert_close(got, want, what=f"gradient of W with padding_idx={padding_idx}")


@pytest.mark.points(1)
@pytest.mark.hint(
    "padding_idx changes only the gradient: the forward pass returns the padding row as it is stored in W "
    "(nn.Embedding merely initializes it to zeros)."
)
def test_embedding_returns_the_padding_row_unchanged(student):
    V, D = 6, 4
    idx = rand_labels(2, 5, num_classes=V, seed=7)
    idx[0, 0] = 2
    W = randn(V, D, seed=8)
    want = F.embedding(idx, W, padding_idx=2)
    zeroed = want.masked_fill((idx == 2).unsqueeze(-1), 0.0)
    assert_close(
        student.embedding(idx, W, padding_idx=2),
        want,
        mistakes={"padding positions were zeroed in the forward pass": zeroed},
    )


@pytest.mark.points(1)
@pytest.mark.hint(
    "Ids must lie in [0, V): an id of V, or a negative id, is an error (raise IndexError), not Python's from-the-end indexing."
)
def test_embedding_rejects_ids_out_of_range(student):
    W = randn(5, 3, seed=9)
    for bad in (5, -1):
        idx = torch.tensor([0, bad, 2])
        raised = student.run(_error_for_ids, idx, W)
        if raised != "IndexError":
            fail(f"id {bad} with a vocabulary of 5 gave {raised}, expected an IndexError")
    if student.run(_error_for_ids, torch.tensor([0, 4]), W) != "no error":
        fail("ids 0 and 4 with a vocabulary of 5 raised an error")


# --- skip-gram -------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Per example: -log σ(u_o·v) - Σ_k log σ(-u_k·v), where v is the centre word's row of W_in and the u are rows of W_out; "
    "sum over the K negatives, then average over the batch."
)
@pytest.mark.parametrize("sizes", [(1, 1, 3), (7, 5, 4), (16, 3, 8)], ids=str)
def test_skipgram_neg_loss_matches_bce_form(student, sizes):
    B, K, D = sizes
    inputs = skipgram_inputs(B, K, D, V=13, seed=10)
    mistakes = {
        "the negatives pull up instead of pushing down: their term is log σ(-u_k·v)": bce_form(*inputs, neg_sign=-1.0),
    }
    if K > 1:  # one negative: its mean is its sum
        mistakes["the negatives were averaged; their terms are summed"] = bce_form(*inputs, reduce_neg="mean")
    if B > 1:  # one example: the batch's sum is its mean
        mistakes["summed over the batch; the loss is the mean over examples"] = bce_form(*inputs, reduce_batch="sum")
    got = student.skipgram_neg_loss(*inputs)
    if isinstance(got, torch.Tensor) and got.dim() != 0:
        fail(f"the loss has shape {tuple(got.shape)}: a single number (0-d tensor) was expected")
    assert_close(got, bce_form(*inputs), what="skip-gram loss", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint(
    "log(σ(z)) and log(1 - σ(z)) become -inf once σ rounds to 0 or 1; F.logsigmoid computes log σ(z) without that."
)
@pytest.mark.parametrize("size", [50.0, 200.0], ids=["dot50", "dot200"])
def test_skipgram_neg_loss_is_finite_at_large_dot_products_in_float32(student, size):
    D = 4
    W_in = torch.zeros(3, D)
    W_out = torch.zeros(3, D)
    W_in[0, 0] = 1.0
    W_out[1, 0] = -size  # the true context points away: u_o·v = -size
    W_out[2, 0] = size  # the negative points along: u_k·v = +size
    center, context, negatives = torch.tensor([0, 0]), torch.tensor([1, 2]), torch.tensor([[2, 1], [1, 2]])
    got = student.skipgram_neg_loss(center, context, negatives, W_in, W_out)
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        fail(f"loss is inf or NaN at dot products of ±{size:g}: log of a sigmoid that rounded to 0")
    assert_close(got, bce_form(center, context, negatives, W_in, W_out), what=f"loss at dot products ±{size:g}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Build the loss from torch operations on W_in and W_out (lookups, products, logsigmoid) so autograd reaches both tables."
)
@pytest.mark.parametrize("sizes", [(1, 1, 3), (7, 5, 4)], ids=str)
def test_skipgram_neg_loss_gradients_match_autograd(student, sizes):
    B, K, D = sizes
    center, context, negatives, W_in, W_out = skipgram_inputs(B, K, D, V=6, seed=11, scale=1.5)
    got = student.run(_skipgram_grads, center, context, negatives, W_in, W_out)
    leaf_in, leaf_out = W_in.clone().requires_grad_(), W_out.clone().requires_grad_()
    bce_form(center, context, negatives, leaf_in, leaf_out).backward()
    assert_close(got, [leaf_in.grad, leaf_out.grad], what="gradients of [W_in, W_out]")
