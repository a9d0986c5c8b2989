"""Hidden tests of week 11, encoder_block.py: a pre-norm transformer encoder block.

A seeded state_dict (LayerNorm weights and biases away from 1 and 0, non-zero attention biases)
is loaded into the learner's block (in a probe) and into a float64
nn.TransformerEncoderLayer(norm_first=True, batch_first=True, dropout=0.0, activation='gelu') built
in the test, and outputs and gradients are compared, without and with a causal mask and a key
padding mask. The classic variants are named with torch's own layer: norm_first=False (post-norm),
activation='relu' and the tanh GELU.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.testing import assert_close, fail, generator, randn

pytestmark = pytest.mark.exercise("encoder_block")

# (d_model, n_heads, d_ff, N, T): a batch of one with T = 1... 3, odd sizes, four heads.
CASES = [(8, 2, 16, 1, 3), (12, 3, 20, 5, 7), (16, 4, 24, 2, 1)]
CASE_IDS = ["batch1", "odd", "one_step"]


def seeded_state(d_model, d_ff, seed):
    shapes = {
        name: tuple(value.shape)
        for name, value in nn.TransformerEncoderLayer(d_model, 2 if d_model % 2 == 0 else 1, d_ff).state_dict().items()
    }
    state = {}
    for i, (name, shape) in enumerate(sorted(shapes.items())):
        fan_in = shape[-1] if len(shape) == 2 else 1
        value = randn(*shape, seed=seed + i, scale=1.0 / fan_in**0.5 if len(shape) == 2 else 0.3)
        if name.startswith("norm") and name.endswith("weight"):
            value = 1.0 + value
        state[name] = value
    return state


def torch_layer(state, n_heads, *, norm_first=True, activation="gelu"):
    d_model, d_ff = state["linear1.weight"].shape[1], state["linear1.weight"].shape[0]
    layer = nn.TransformerEncoderLayer(
        d_model,
        n_heads,
        d_ff,
        dropout=0.0,
        activation=activation,
        norm_first=norm_first,
        batch_first=True,
        dtype=torch.float64,
    )
    layer.load_state_dict(state)
    return layer


def torch_out(state, n_heads, x, causal=False, pad=None, **variant):
    layer = torch_layer(state, n_heads, **variant)
    mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], dtype=torch.float64) if causal else None
    with torch.no_grad():
        return layer(x, src_mask=mask, src_key_padding_mask=pad, is_causal=causal)


def tanh_gelu(x):
    return F.gelu(x, approximate="tanh")


def variants(state, n_heads, x, causal=False, pad=None):
    return {
        "post-norm: the LayerNorm is applied after the residual sum; pre-norm normalizes each sub-layer's input": torch_out(
            state, n_heads, x, causal, pad, norm_first=False
        ),
        "ReLU in the feed-forward network: the activation is GELU": torch_out(
            state, n_heads, x, causal, pad, activation="relu"
        ),
        "tanh-approximate GELU: the block uses the exact GELU": torch_out(
            state, n_heads, x, causal, pad, activation=tanh_gelu
        ),
    }


def _forward(m, d_model, n_heads, d_ff, state, x, causal, pad):
    block = m.PreNormEncoderBlock(d_model, n_heads, d_ff).double()
    block.load_state_dict(state)
    with torch.no_grad():
        return block(x, causal=causal, key_padding_mask=pad)


def _structure(m, d_model, n_heads, d_ff):
    block = m.PreNormEncoderBlock(d_model, n_heads, d_ff)
    return {
        "shapes": {name: list(value.shape) for name, value in block.state_dict().items()},
        "types": sorted({type(module).__name__ for module in block.modules()}),
    }


def _grads(m, d_model, n_heads, d_ff, state, x, causal):
    block = m.PreNormEncoderBlock(d_model, n_heads, d_ff).double()
    block.load_state_dict(state)
    x = x.clone().requires_grad_()
    out = block(x, causal=causal)
    (out * torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).reshape(out.shape)).sum().backward()
    return {"x": x.grad, "params": {name: p.grad for name, p in block.named_parameters()}}


# --- structure --------------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.hint(
    "Name the sub-modules as nn.TransformerEncoderLayer does (self_attn, linear1, linear2, norm1, norm2), so its "
    "state_dict loads; build the block from them, not from nn.TransformerEncoderLayer itself."
)
def test_block_state_dict_matches_torch_layer(student):
    want = {
        name: list(value.shape)
        for name, value in nn.TransformerEncoderLayer(12, 3, 20, batch_first=True).state_dict().items()
    }
    got = student.run(_structure, 12, 3, 20)
    if sorted(got["shapes"]) != sorted(want):
        fail(f"state_dict keys {sorted(got['shapes'])}, expected {sorted(want)}")
    for name, shape in want.items():
        if got["shapes"][name] != shape:
            fail(f"{name} has shape {tuple(got['shapes'][name])}, expected {tuple(shape)}")
    if {"TransformerEncoderLayer", "TransformerEncoder"} & set(got["types"]):
        fail("the block contains nn.TransformerEncoderLayer: write the two residual sub-layers yourself")


# --- forward ----------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "Pre-norm: x + attention(norm1(x)), then x + linear2(gelu(linear1(norm2(x)))); the residual stream itself "
    "is never normalized."
)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_block_matches_torch_pre_norm_layer(student, case):
    d_model, n_heads, d_ff, n, steps = case
    state = seeded_state(d_model, d_ff, seed=1)
    x = randn(n, steps, d_model, seed=2)
    got = student.run(_forward, d_model, n_heads, d_ff, state, x, False, None)
    assert_close(got, torch_out(state, n_heads, x), what="block output", mistakes=variants(state, n_heads, x))


@pytest.mark.points(2)
@pytest.mark.hint(
    "causal=True: position t may attend to positions 0..t only. nn.MultiheadAttention's boolean attn_mask marks "
    "the positions that may NOT be attended."
)
@pytest.mark.parametrize("case", CASES[:2], ids=CASE_IDS[:2])
def test_block_causal_matches_torch_with_a_causal_mask(student, case):
    d_model, n_heads, d_ff, n, steps = case
    state = seeded_state(d_model, d_ff, seed=3)
    x = randn(n, steps, d_model, seed=4)
    got = student.run(_forward, d_model, n_heads, d_ff, state, x, True, None)
    mistakes = variants(state, n_heads, x, causal=True)
    mistakes["causal=True had no effect: later positions were attended"] = torch_out(state, n_heads, x)
    assert_close(got, torch_out(state, n_heads, x, causal=True), what="causal block output", mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint("The first position of a causal block sees only itself, and no position is changed by later ones.")
def test_block_causal_output_ignores_the_future(student):
    d_model, n_heads, d_ff = 8, 2, 16
    state = seeded_state(d_model, d_ff, seed=5)
    x = randn(2, 6, d_model, seed=6)
    changed = x.clone()
    changed[:, 4:] = randn(2, 2, d_model, seed=7)
    a = student.run(_forward, d_model, n_heads, d_ff, state, x, True, None)
    b = student.run(_forward, d_model, n_heads, d_ff, state, changed, True, None)
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape == x.shape:
        if not torch.allclose(a[:, :4], b[:, :4]):
            fail("with causal=True, changing positions 4 and 5 changed the outputs of positions 0..3")
    assert_close(a, torch_out(state, n_heads, x, causal=True), what="causal block output")


@pytest.mark.points(2)
@pytest.mark.hint(
    "key_padding_mask (N, T): True marks padding keys that no position may attend to; pass it to the attention."
)
def test_block_key_padding_mask_matches_torch(student):
    d_model, n_heads, d_ff, n, steps = 12, 3, 20, 3, 6
    state = seeded_state(d_model, d_ff, seed=8)
    x = randn(n, steps, d_model, seed=9)
    pad = torch.rand(n, steps, generator=generator(10)) < 0.4
    pad[:, 0] = False
    pad[:, -1] = True
    got = student.run(_forward, d_model, n_heads, d_ff, state, x, False, pad)
    mistakes = {"the key_padding_mask was ignored": torch_out(state, n_heads, x)}
    assert_close(got, torch_out(state, n_heads, x, pad=pad), what="block output with padding", mistakes=mistakes)


# --- gradients --------------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint("Every parameter, including both LayerNorms, must receive the gradient torch's layer gives it.")
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_block_gradients_match_torch(student, causal):
    d_model, n_heads, d_ff, n, steps = 12, 3, 20, 2, 5
    state = seeded_state(d_model, d_ff, seed=11)
    x = randn(n, steps, d_model, seed=12)
    got = student.run(_grads, d_model, n_heads, d_ff, state, x, causal)
    layer = torch_layer(state, n_heads)
    leaf = x.clone().requires_grad_()
    mask = nn.Transformer.generate_square_subsequent_mask(steps, dtype=torch.float64) if causal else None
    out = layer(leaf, src_mask=mask, is_causal=causal)
    (out * torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).reshape(out.shape)).sum().backward()
    assert_close(got["params"], {name: p.grad for name, p in layer.named_parameters()}, what="parameter gradients")
    assert_close(got["x"], leaf.grad, what="gradient of x")
