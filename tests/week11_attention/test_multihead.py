"""Hidden tests of week 11, multihead.py: MultiHeadAttention against nn.MultiheadAttention.

A seeded state_dict (with non-zero biases, which torch's own initialisation leaves at zero) is
loaded into both the learner's module (in a probe) and a float64 nn.MultiheadAttention built in
the test, and their outputs, weights and gradients are compared: self- and cross-attention, both
layouts, key_padding_mask, boolean and additive attn_mask in 2-d and per-head 3-d forms, and
averaged and per-head weights. Every case has num_heads >= 2 and seq_len != head_dim, so heads
split along the wrong dim show. The mistakes are named with torch itself (the inverted mask, the
other layout) or with a few lines of the wrong computation (heads split without a transpose).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from grader.testing import assert_close, fail, generator, randn

pytestmark = pytest.mark.exercise("multihead")

# (embed_dim, num_heads, N, L, S): a batch of one; odd sizes; four heads. head_dim != L, S.
CASES = [(8, 2, 1, 3, 5), (12, 3, 5, 7, 2), (16, 4, 2, 5, 9)]
CASE_IDS = ["batch1", "odd", "four_heads"]


def seeded_state(embed_dim, seed, bias=True):
    scale = 1 / math.sqrt(embed_dim)
    state = {
        "in_proj_weight": randn(3 * embed_dim, embed_dim, seed=seed, scale=2 * scale),
        "out_proj.weight": randn(embed_dim, embed_dim, seed=seed + 1, scale=scale),
    }
    if bias:
        state["in_proj_bias"] = randn(3 * embed_dim, seed=seed + 2, scale=0.5)
        state["out_proj.bias"] = randn(embed_dim, seed=seed + 3, scale=0.5)
    return state


def torch_mha(state, num_heads, *, bias=True, batch_first=True):
    embed_dim = state["out_proj.weight"].shape[0]
    module = nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=batch_first, dtype=torch.float64)
    module.load_state_dict(state)
    return module


def torch_call(state, num_heads, query, key, value, *, bias=True, batch_first=True, **kwargs):
    with torch.no_grad():
        return torch_mha(state, num_heads, bias=bias, batch_first=batch_first)(query, key, value, **kwargs)


def split_heads_without_transpose(state, num_heads, query, key, value):
    """The output when (N, T, E) is reshaped straight to (N, H, T, head_dim): heads cut across time."""
    n, n_q, e = query.shape
    n_k, hd = key.shape[1], e // num_heads
    w_q, w_k, w_v = state["in_proj_weight"].chunk(3)
    b_q, b_k, b_v = state["in_proj_bias"].chunk(3)
    q = (query @ w_q.T + b_q).reshape(n, num_heads, n_q, hd)
    k = (key @ w_k.T + b_k).reshape(n, num_heads, n_k, hd)
    v = (value @ w_v.T + b_v).reshape(n, num_heads, n_k, hd)
    mixed = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), -1) @ v
    return mixed.reshape(n, n_q, e) @ state["out_proj.weight"].T + state["out_proj.bias"]


def with_scale(state, num_heads, query, key, value, factor):
    """torch's output when every score is multiplied by `factor` (folded into W_q and b_q)."""
    scaled = dict(state)
    e = state["out_proj.weight"].shape[0]
    multiplier = torch.ones(3 * e, 1, dtype=torch.float64)
    multiplier[:e] = factor
    scaled["in_proj_weight"] = state["in_proj_weight"] * multiplier
    scaled["in_proj_bias"] = state["in_proj_bias"] * multiplier[:, 0]
    return torch_call(scaled, num_heads, query, key, value)[0]


def swapped_qk(state, num_heads, query, key, value):
    """torch's output with the query and key slices of in_proj exchanged."""
    swapped = dict(state)
    w_q, w_k, w_v = state["in_proj_weight"].chunk(3)
    b_q, b_k, b_v = state["in_proj_bias"].chunk(3)
    swapped["in_proj_weight"] = torch.cat([w_k, w_q, w_v])
    swapped["in_proj_bias"] = torch.cat([b_k, b_q, b_v])
    return torch_call(swapped, num_heads, query, key, value)[0]


def padding_mask(n, s, seed):
    """(N, S) bool, True = padding; every row has at least one key that is not padding and one that is (S > 1)."""
    pad = torch.rand(n, s, generator=generator(seed)) < 0.4
    pad[:, 0] = False
    if s > 1:
        pad[:, -1] = True
    return pad


def _forward(m, embed_dim, num_heads, state, query, key, value, options):
    options = dict(options)
    bias = options.pop("bias", True)
    batch_first = options.pop("batch_first", True)
    module = m.MultiHeadAttention(embed_dim, num_heads, bias=bias, batch_first=batch_first).double()
    module.load_state_dict(state)
    with torch.no_grad():
        out, weights = module(query, key, value, **options)
    return [out, weights]


def _structure(m, embed_dim, num_heads, bias):
    module = m.MultiHeadAttention(embed_dim, num_heads, bias=bias)
    return {name: list(value.shape) for name, value in module.state_dict().items()}


def _error_of(m, embed_dim, num_heads):
    try:
        m.MultiHeadAttention(embed_dim, num_heads)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:  # noqa: BLE001 - any other error is reported by name
        return type(error).__name__
    return "no error"


def _grads(m, embed_dim, num_heads, state, query, key, value, pad):
    module = m.MultiHeadAttention(embed_dim, num_heads, batch_first=True).double()
    module.load_state_dict(state)
    query, key, value = (t.clone().requires_grad_() for t in (query, key, value))
    out, weights = module(query, key, value, key_padding_mask=pad)
    (out * torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).reshape(out.shape)).sum().backward()
    grads = {name: p.grad for name, p in module.named_parameters()}
    return {"params": grads, "inputs": [query.grad, key.grad, value.grad]}


def inputs(n, n_q, n_k, e, seed, cross=True):
    query = randn(n, n_q, e, seed=seed)
    if not cross:
        return query, query, query
    return query, randn(n, n_k, e, seed=seed + 1), randn(n, n_k, e, seed=seed + 2)


# --- structure --------------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.hint(
    "Use torch's parameter names and shapes: in_proj_weight (3E, E), in_proj_bias (3E,), and out_proj as an "
    "nn.Linear(E, E); with bias=False there is no in_proj_bias and no out_proj.bias."
)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_mha_state_dict_has_torch_names_and_shapes(student, bias):
    want = {name: list(value.shape) for name, value in nn.MultiheadAttention(12, 3, bias=bias).state_dict().items()}
    got = student.run(_structure, 12, 3, bias)
    if sorted(got) != sorted(want):
        fail(f"state_dict keys {sorted(got)}, expected {sorted(want)} (nn.MultiheadAttention's names)")
    for name, shape in want.items():
        if got[name] != shape:
            fail(f"{name} has shape {tuple(got[name])}, expected {tuple(shape)}")


@pytest.mark.points(1)
@pytest.mark.hint(
    "Each head gets embed_dim / num_heads features, so num_heads must divide embed_dim (raise ValueError)."
)
def test_mha_rejects_num_heads_that_do_not_divide_embed_dim(student):
    raised = student.run(_error_of, 10, 3)
    if raised != "ValueError":
        fail(f"MultiHeadAttention(10, 3) gave {raised}, expected a ValueError")
    if student.run(_error_of, 12, 3) != "no error":
        fail("MultiHeadAttention(12, 3) raised an error, but 3 heads of 4 features are fine")


# --- outputs ----------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "Project with the q, k, v slices of in_proj (in that order), split the FEATURES into heads with time kept "
    "intact ((N, T, E) -> (N, T, H, head_dim) -> (N, H, T, head_dim)), scale by 1/√head_dim, then merge the heads "
    "and apply out_proj."
)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_mha_self_attention_matches_torch(student, case):
    e, h, n, n_q, _ = case
    state = seeded_state(e, seed=1)
    query, key, value = inputs(n, n_q, n_q, e, seed=2, cross=False)
    want_out, want_w = torch_call(state, h, query, key, value)
    out, weights = student.run(_forward, e, h, state, query, key, value, {})
    mistakes = {
        "heads split along the wrong dim: reshaping (N, T, E) to (N, H, T, head_dim) cuts time, not features": split_heads_without_transpose(
            state, h, query, key, value
        ),
        "scores scaled by 1/√embed_dim: each head's scale is 1/√head_dim": with_scale(
            state, h, query, key, value, 1 / math.sqrt(h)
        ),
        "scores not scaled: divide by √head_dim": with_scale(state, h, query, key, value, math.sqrt(e // h)),
    }
    assert_close(out, want_out, what="output", mistakes=mistakes)
    assert_close(weights, want_w, what="averaged weights")


@pytest.mark.points(3)
@pytest.mark.hint(
    "In cross-attention the queries come from `query` and the keys and values from `key` and `value`; "
    "in_proj_weight stacks W_q, W_k, W_v in that order."
)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_mha_cross_attention_matches_torch(student, case):
    e, h, n, n_q, n_k = case
    state = seeded_state(e, seed=3)
    query, key, value = inputs(n, n_q, n_k, e, seed=4)
    want_out, want_w = torch_call(state, h, query, key, value)
    out, weights = student.run(_forward, e, h, state, query, key, value, {})
    mistakes = {
        "the query and key projections are swapped: in_proj_weight holds W_q, W_k, W_v in that order": swapped_qk(
            state, h, query, key, value
        ),
        "heads split along the wrong dim: reshaping (N, T, E) to (N, H, T, head_dim) cuts time, not features": split_heads_without_transpose(
            state, h, query, key, value
        ),
    }
    assert_close(out, want_out, what="output", mistakes=mistakes)
    assert_close(weights, want_w, what="averaged weights")


@pytest.mark.points(2)
@pytest.mark.hint(
    "With batch_first=False (torch's default) inputs and output are (time, batch, E): bring them to "
    "(batch, time, E) for the computation and back at the end."
)
def test_mha_sequence_first_layout_matches_torch(student):
    e, h, n, n_q, n_k = 12, 3, 4, 6, 6  # S = L, so that the wrong layout runs and can be named
    state = seeded_state(e, seed=5)
    query, key, value = (t.transpose(0, 1).contiguous() for t in inputs(n, n_q, n_k, e, seed=6))
    want_out, want_w = torch_call(state, h, query, key, value, batch_first=False)
    out, weights = student.run(_forward, e, h, state, query, key, value, {"batch_first": False})
    mistakes = {
        "batch_first=False was ignored: (L, N, E) inputs were read as (N, L, E)": torch_call(
            state, h, query, key, value, batch_first=True
        )[0]
    }
    assert_close(out, want_out, what="output with batch_first=False", mistakes=mistakes)
    assert_close(weights, want_w, what="weights with batch_first=False (they are (N, L, S) in both layouts)")


@pytest.mark.points(1)
@pytest.mark.hint("bias=False: no input-projection bias and an out_proj without bias; the rest is unchanged.")
def test_mha_without_bias_matches_torch(student):
    e, h = 8, 2
    state = seeded_state(e, seed=7, bias=False)
    query, key, value = inputs(3, 4, 6, e, seed=8)
    want_out, want_w = torch_call(state, h, query, key, value, bias=False)
    out, weights = student.run(_forward, e, h, state, query, key, value, {"bias": False})
    assert_close(out, want_out, what="output with bias=False")
    assert_close(weights, want_w, what="weights with bias=False")


# --- masks ------------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "key_padding_mask (N, S): True marks a padding key to IGNORE, the opposite of scaled_dot_product_attention's "
    "boolean mask. Check what True means for this argument."
)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_mha_key_padding_mask_true_means_ignore(student, case):
    e, h, n, n_q, n_k = case
    state = seeded_state(e, seed=9)
    query, key, value = inputs(n, n_q, n_k, e, seed=10)
    pad = padding_mask(n, n_k, seed=11)
    want_out, want_w = torch_call(state, h, query, key, value, key_padding_mask=pad)
    out, weights = student.run(_forward, e, h, state, query, key, value, {"key_padding_mask": pad})
    mistakes = {
        "attends only to padding: key_padding_mask True means ignore this key": torch_call(
            state, h, query, key, value, key_padding_mask=~pad
        )[0]
    }
    mistakes["the key_padding_mask was ignored"] = torch_call(state, h, query, key, value)[0]
    assert_close(out, want_out, what="output with key_padding_mask", mistakes=mistakes)
    assert_close(weights, want_w, what="weights with key_padding_mask")


@pytest.mark.points(1)
@pytest.mark.hint("A floating key_padding_mask is added to every query's scores for that key.")
def test_mha_float_key_padding_mask_is_added(student):
    e, h, n, n_q, n_k = 12, 3, 3, 4, 6
    state = seeded_state(e, seed=12)
    query, key, value = inputs(n, n_q, n_k, e, seed=13)
    pad = randn(n, n_k, seed=14, scale=2.0)
    want_out, want_w = torch_call(state, h, query, key, value, key_padding_mask=pad)
    out, weights = student.run(_forward, e, h, state, query, key, value, {"key_padding_mask": pad})
    assert_close(out, want_out, what="output with a float key_padding_mask")
    assert_close(weights, want_w, what="weights with a float key_padding_mask")


@pytest.mark.points(2)
@pytest.mark.hint(
    "attn_mask (L, S): a boolean True means NOT allowed to attend (nn.MultiheadAttention's convention, the opposite "
    "of scaled_dot_product_attention's); a floating mask is added to the scores."
)
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_mha_attn_mask_2d_matches_torch(student, kind):
    e, h, n, n_q, n_k = 12, 3, 2, 5, 6
    state = seeded_state(e, seed=15)
    query, key, value = inputs(n, n_q, n_k, e, seed=16)
    blocked = torch.rand(n_q, n_k, generator=generator(17)) < 0.4
    blocked[:, 0] = False
    blocked[:, 1] = True
    mask = blocked if kind == "bool" else randn(n_q, n_k, seed=18, scale=2.0).masked_fill(blocked, float("-inf"))
    want_out, want_w = torch_call(state, h, query, key, value, attn_mask=mask)
    out, weights = student.run(_forward, e, h, state, query, key, value, {"attn_mask": mask})
    mistakes = {"the attn_mask was ignored": torch_call(state, h, query, key, value)[0]}
    if kind == "bool":
        mistakes["boolean attn_mask read with SDPA's polarity: here True means NOT allowed"] = torch_call(
            state, h, query, key, value, attn_mask=~blocked
        )[0]
    assert_close(out, want_out, what=f"output with a {kind} attn_mask", mistakes=mistakes)
    assert_close(weights, want_w, what=f"weights with a {kind} attn_mask")


@pytest.mark.points(2)
@pytest.mark.hint(
    "A 3-d attn_mask is (N·num_heads, L, S), batch-major: entry n·num_heads + h belongs to batch element n and head h."
)
def test_mha_per_head_attn_mask_matches_torch(student):
    e, h, n, n_q, n_k = 12, 3, 2, 4, 5
    state = seeded_state(e, seed=19)
    query, key, value = inputs(n, n_q, n_k, e, seed=20)
    mask = randn(n * h, n_q, n_k, seed=21, scale=3.0)
    want_out, want_w = torch_call(state, h, query, key, value, attn_mask=mask, average_attn_weights=False)
    out, weights = student.run(
        _forward, e, h, state, query, key, value, {"attn_mask": mask, "average_attn_weights": False}
    )
    head_major = mask.reshape(h, n, n_q, n_k).transpose(0, 1).reshape(n * h, n_q, n_k)
    mistakes = {
        "the 3-d attn_mask was read head-major; entry n·num_heads + h is batch n, head h": torch_call(
            state, h, query, key, value, attn_mask=head_major
        )[0]
    }
    assert_close(out, want_out, what="output with a (N·H, L, S) attn_mask", mistakes=mistakes)
    assert_close(weights, want_w, what="per-head weights with a (N·H, L, S) attn_mask")


# --- weights ----------------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "By default torch returns the attention weights AVERAGED over the heads, (N, L, S); "
    "average_attn_weights=False gives them per head, (N, num_heads, L, S); need_weights=False gives None."
)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_mha_weights_averaged_per_head_or_none(student, case):
    e, h, n, n_q, n_k = case
    state = seeded_state(e, seed=22)
    query, key, value = inputs(n, n_q, n_k, e, seed=23)
    _, per_head = torch_call(state, h, query, key, value, average_attn_weights=False)
    _, averaged = student.run(_forward, e, h, state, query, key, value, {})
    if isinstance(averaged, torch.Tensor) and averaged.dim() == 4:
        fail("the default weights have a head dim: torch averages them over the heads")
    assert_close(
        averaged,
        per_head.mean(1),
        what="default weights",
        mistakes={
            "weights summed over the heads, not averaged": per_head.sum(1),
            "the weights of one head only: average over all heads": per_head[:, -1],
        },
    )
    _, got = student.run(_forward, e, h, state, query, key, value, {"average_attn_weights": False})
    assert_close(got, per_head, what="weights with average_attn_weights=False")
    out, nothing = student.run(_forward, e, h, state, query, key, value, {"need_weights": False})
    if nothing is not None:
        fail("need_weights=False must return None as the weights")
    assert_close(out, torch_call(state, h, query, key, value)[0], what="output with need_weights=False")


# --- gradients --------------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "Build the module from differentiable torch operations on its parameters, so every parameter receives its gradient."
)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_mha_gradients_match_torch(student, case):
    e, h, n, n_q, n_k = case
    state = seeded_state(e, seed=24)
    query, key, value = inputs(n, n_q, n_k, e, seed=25)
    pad = padding_mask(n, n_k, seed=26)
    got = student.run(_grads, e, h, state, query, key, value, pad)
    module = torch_mha(state, h)
    leaves = [t.clone().requires_grad_() for t in (query, key, value)]
    out, _ = module(*leaves, key_padding_mask=pad)
    (out * torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).reshape(out.shape)).sum().backward()
    want = {name: p.grad for name, p in module.named_parameters()}
    assert_close(got["params"], want, what="parameter gradients")
    assert_close(got["inputs"], [leaf.grad for leaf in leaves], what="input gradients")
