"""Hidden tests of week 11, attention.py: scaled dot-product attention and its masks.

Every expected value is torch.nn.functional.scaled_dot_product_attention (SDPA) on seeded float64
inputs, at test time. The weights are checked on their own through SDPA too: attention with the
identity matrix as the values returns the weight matrix itself. Classic mistakes are named with
SDPA's own `scale=` argument (scaled by d, or not at all), SDPA with the inverted mask (wrong
polarity), and a softmax over the wrong axis or taken before the mask. Gradients go through a
probe and are compared with SDPA's.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, generator, randn

pytestmark = pytest.mark.exercise("attention")

# (leading dims, Lq, Lk, d_k, d_v): a batch of one, odd sizes with d_k != d_v, and extra
# (batch, head) dims with d_k = 64, where a wrong scale changes the weights a lot.
CASES = [((1,), 3, 5, 8, 8), ((7,), 5, 9, 3, 6), ((2, 3), 4, 6, 64, 5)]
CASE_IDS = ["batch1", "odd_dk_ne_dv", "heads_dk64"]


def qkv(lead, n_q, n_k, d_k, d_v, seed):
    q = randn(*lead, n_q, d_k, seed=seed)
    k = randn(*lead, n_k, d_k, seed=seed + 1)
    v = randn(*lead, n_k, d_v, seed=seed + 2)
    return q, k, v


def random_bool_mask(shape, seed, keep=0.6):
    """True = attend; every row keeps its first key and drops its second, so neither the mask nor its inverse masks a row fully."""
    mask = torch.rand(shape, generator=generator(seed)) < keep
    mask[..., 0] = True
    if shape[-1] > 1:
        mask[..., 1] = False
    return mask


def sdpa(q, k, v, mask=None, is_causal=False, scale=None):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, scale=scale)


def sdpa_weights(q, k, mask=None, is_causal=False, scale=None):
    """The attention weights, from SDPA with the identity as values."""
    eye = torch.eye(k.shape[-2], dtype=k.dtype).expand(*k.shape[:-1], k.shape[-2])
    return sdpa(q, k, eye, mask, is_causal, scale)


def wrong_scales(q, k, v):
    """The outputs of the scaling mistakes, by name."""
    d_k, d_v = q.shape[-1], v.shape[-1]
    out = {
        "scores divided by d_k instead of √d_k: the weights are too flat": sdpa(q, k, v, scale=1 / d_k),
        "scores not scaled: divide them by √d_k": sdpa(q, k, v, scale=1.0),
    }
    if d_v != d_k:
        out["scaled by √d_v: the scale comes from the dimension of the queries and keys"] = sdpa(
            q, k, v, scale=1 / math.sqrt(d_v)
        )
    return out


def softmax_over_queries(q, k, v, bias=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + bias
    return torch.softmax(scores, dim=-2) @ v


def mask_after_softmax(q, k, v, mask):
    probs = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return (probs * mask) @ v


def _grads(m, q, k, v, mask, is_causal):
    q, k, v = (t.clone().requires_grad_() for t in (q, k, v))
    out = m.attention(q, k, v, mask=mask, is_causal=is_causal)
    out.backward(torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).reshape(out.shape))
    return [q.grad, k.grad, v.grad]


def _error_for_mask_and_causal(m, q, k, v, mask):
    try:
        m.attention(q, k, v, mask=mask, is_causal=True)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:  # noqa: BLE001 - any other error is reported by name
        return type(error).__name__
    return "no error"


# --- no mask ---------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Each query's scores are its dot products with every key, divided by the square root of the key dimension; "
    "a softmax along the keys makes each query's weights sum to 1, and they weight the values."
)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_attention_matches_sdpa_without_mask(student, case):
    q, k, v = qkv(*case, seed=1)
    mistakes = wrong_scales(q, k, v)
    mistakes["softmax taken over the queries: each query's weights must sum to 1 over the keys"] = softmax_over_queries(
        q, k, v
    )
    assert_close(
        student.attention(q, k, v),
        sdpa(q, k, v),
        what=f"attention on q {tuple(q.shape)}, v {tuple(v.shape)}",
        mistakes=mistakes,
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "The weights are softmax(q kᵀ / √d_k) along the keys: shape (..., Lq, Lk), every row non-negative and summing to 1."
)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_attention_weights_match_sdpa_with_identity_values(student, case):
    q, k, _ = qkv(*case, seed=2)
    want = sdpa_weights(q, k)
    got = student.attention_weights(q, k)
    if isinstance(got, torch.Tensor) and got.shape == want.shape:
        if torch.allclose(got.sum(-2), torch.ones_like(got.sum(-2))) and not torch.allclose(
            got.sum(-1), torch.ones_like(got.sum(-1))
        ):
            fail("the weights sum to 1 over the queries, not over the keys: softmax along the last dim")
    d_k = q.shape[-1]
    assert_close(
        got,
        want,
        what="attention_weights",
        mistakes={
            "scores divided by d_k instead of √d_k: the weights are too flat": sdpa_weights(q, k, scale=1 / d_k),
            "scores not scaled: divide them by √d_k": sdpa_weights(q, k, scale=1.0),
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint("Attention keeps the dtype of its inputs: float32 in, float32 out, with the values SDPA gives.")
def test_attention_keeps_float32(student):
    q, k, v = (t.float() for t in qkv((2,), 4, 6, 8, 3, seed=3))
    got = student.attention(q, k, v)
    if isinstance(got, torch.Tensor) and got.dtype != torch.float32:
        fail(f"float32 inputs gave dtype {got.dtype}, expected torch.float32")
    assert_close(got, sdpa(q, k, v))


# --- masks ------------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "For a boolean mask, True means the key takes part (SDPA's convention). Masked keys must get weight 0 "
    "and the remaining weights must still sum to 1: mask the scores, not the probabilities."
)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_attention_boolean_mask_true_means_attend(student, case):
    q, k, v = qkv(*case, seed=4)
    lead, n_q, n_k = case[0], case[1], case[2]
    mask = random_bool_mask((*lead, n_q, n_k), seed=5)
    assert_close(
        student.attention(q, k, v, mask=mask),
        sdpa(q, k, v, mask),
        what="attention with a boolean mask",
        mistakes={
            "the mask's polarity is inverted: it attends only where the mask is False": sdpa(q, k, v, ~mask),
            "mask applied after the softmax: masked keys removed but the weights no longer sum to 1": mask_after_softmax(
                q, k, v, mask
            ),
            "the mask was ignored": sdpa(q, k, v),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "A mask of shape (Lq, Lk), or (N, 1, 1, Lk) for padding, broadcasts over the leading dims of the scores."
)
def test_attention_boolean_mask_broadcasts_over_batch_and_heads(student):
    q, k, v = qkv((3, 2), 4, 7, 5, 6, seed=6)
    for shape in ((4, 7), (3, 1, 1, 7), (3, 2, 1, 7)):
        mask = random_bool_mask(shape, seed=7)
        assert_close(student.attention(q, k, v, mask=mask), sdpa(q, k, v, mask), what=f"mask of shape {shape}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "A floating mask is added to the scaled scores before the softmax: 0 keeps a key, -inf removes it, "
    "other values bias it."
)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_attention_additive_float_mask(student, case):
    q, k, v = qkv(*case, seed=8)
    lead, n_q, n_k = case[0], case[1], case[2]
    bias = randn(*lead, n_q, n_k, seed=9, scale=2.0)
    bias = bias.masked_fill(~random_bool_mask(bias.shape, seed=10), float("-inf"))
    finite = torch.where(torch.isinf(bias), torch.zeros_like(bias), bias)
    assert_close(
        student.attention(q, k, v, mask=bias),
        sdpa(q, k, v, bias),
        what="attention with an additive mask",
        mistakes={
            "the floating mask was ignored": sdpa(q, k, v),
            "the finite biases were dropped: add the whole floating mask to the scores": sdpa(
                q, k, v, torch.isfinite(bias)
            ),
            "the -inf entries were dropped": sdpa(q, k, v, finite),
        },
    )


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "is_causal: query i attends to keys 0..i, itself included; torch aligns the triangle at the top-left "
    "corner, also when Lq != Lk."
)
@pytest.mark.parametrize("case", CASES + [((2,), 6, 4, 5, 3)], ids=CASE_IDS + ["more_queries_than_keys"])
def test_attention_causal_matches_sdpa_is_causal(student, case):
    q, k, v = qkv(*case, seed=11)
    n_q, n_k = case[1], case[2]
    ones = torch.ones(n_q, n_k, dtype=torch.bool)
    mistakes = {
        "the causal mask points the wrong way: query i may see keys 0..i, not i..end": sdpa(q, k, v, ones.triu()),
        "the causal mask ignored": sdpa(q, k, v),
    }
    strict = ones.tril(-1)
    strict[:, 0] = True
    mistakes["the causal mask hides the diagonal: a query may attend to its own position"] = sdpa(q, k, v, strict)
    if n_q != n_k:
        corner = ones.tril(n_k - n_q)
        corner[:, 0] = True
        mistakes["the causal triangle is aligned at the bottom-right corner; torch aligns it at the top-left"] = sdpa(
            q, k, v, corner
        )
    assert_close(
        student.attention(q, k, v, is_causal=True),
        sdpa(q, k, v, is_causal=True),
        what="causal attention",
        mistakes=mistakes,
    )


@pytest.mark.points(1)
@pytest.mark.hint("is_causal=True must give the same result as the explicit lower-triangular boolean mask.")
def test_attention_causal_equals_explicit_lower_triangular_mask(student):
    q, k, v = qkv((3,), 5, 5, 4, 4, seed=12)
    explicit = torch.ones(5, 5, dtype=torch.bool).tril()
    assert_close(
        student.attention(q, k, v, is_causal=True),
        student.attention(q, k, v, mask=explicit),
        what="is_causal vs tril mask",
    )
    assert_close(student.attention(q, k, v, mask=explicit), sdpa(q, k, v, explicit), what="with the explicit tril mask")


@pytest.mark.points(1)
@pytest.mark.hint(
    "Give either a mask or is_causal=True; both at once is ambiguous, and torch refuses it too (raise ValueError)."
)
def test_attention_rejects_mask_together_with_is_causal(student):
    q, k, v = qkv((2,), 3, 3, 4, 4, seed=13)
    raised = student.run(_error_for_mask_and_causal, q, k, v, torch.ones(3, 3, dtype=torch.bool))
    if raised != "ValueError":
        fail(f"mask= together with is_causal=True gave {raised}, expected a ValueError")


# --- fully masked rows ------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "A query whose keys are all masked has only -inf scores, and softmax of them is 0/0. torch 2.13's SDPA "
    "returns zeros for such a row (weights and output): detect the row and give it zeros instead of NaN."
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_attention_fully_masked_row_gives_zeros_like_torch(student, dtype):
    q, k, v = (t.to(dtype) for t in qkv((2,), 4, 5, 6, 3, seed=14))
    mask = random_bool_mask((2, 4, 5), seed=15)
    mask[0, 1] = False
    mask[1, 3] = False
    bias = torch.zeros(2, 4, 5, dtype=dtype).masked_fill(~mask, float("-inf"))
    for name, m in (("boolean", mask), ("additive -inf", bias)):
        got = student.attention(q, k, v, mask=m)
        want = sdpa(q, k, v, m)
        if isinstance(got, torch.Tensor) and got.shape == want.shape and torch.isnan(got).any():
            fail(f"NaN in the output of a fully masked query ({name} mask): torch 2.13 returns zeros for that row")
        assert_close(got, want, what=f"{name} mask with fully masked rows")
    weights = student.attention_weights(q, k, mask=mask)
    assert_close(weights, sdpa_weights(q, k, mask), what="weights of fully masked rows")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Build attention from differentiable torch operations; a fully masked row must give zero gradients, not NaN "
    "(replace its scores before the softmax rather than repairing NaN afterwards)."
)
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_attention_gradients_with_a_fully_masked_row_match_sdpa(student, kind):
    q, k, v = qkv((2,), 4, 5, 6, 3, seed=16)
    mask = random_bool_mask((2, 4, 5), seed=17)
    mask[1, 2] = False
    if kind == "float":
        mask = torch.zeros(mask.shape, dtype=q.dtype).masked_fill(~mask, float("-inf"))

    def torch_grads(q, k, v):
        q, k, v = (t.clone().requires_grad_() for t in (q, k, v))
        out = sdpa(q, k, v, mask)
        out.backward(torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).reshape(out.shape))
        return [q.grad, k.grad, v.grad]

    got = student.run(_grads, q, k, v, mask, False)
    for name, g, w in zip("qkv", got, torch_grads(q, k, v), strict=True):
        if isinstance(g, torch.Tensor) and torch.isnan(g).any():
            fail(f"NaN in the gradient of {name}: a fully masked row must pass zero gradient")
        assert_close(g, w, what=f"gradient of {name}")


# --- gradients --------------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint("Write attention with torch operations only (no .item(), no NumPy), so autograd reaches q, k and v.")
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_attention_gradients_match_sdpa(student, case):
    q, k, v = qkv(*case, seed=18)
    got = student.run(_grads, q, k, v, None, True)
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    out = sdpa(*leaves, is_causal=True)
    out.backward(torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).reshape(out.shape))
    for name, g, leaf in zip("qkv", got, leaves, strict=True):
        assert_close(g, leaf.grad, what=f"gradient of {name} (causal)")
