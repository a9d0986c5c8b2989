"""Hidden tests of week 8, compression.py: magnitude pruning and int8 fake quantization.

Pruning is compared with torch.nn.utils.prune.l1_unstructured on tie-free random weights (the
mask, the count and the pruned weight), for fractions and counts; ties follow the stub's rule
(earlier entries first), computed here by ranking each entry among the others. Quantization is
compared with torch.fake_quantize_per_tensor_affine at the scale max|x| / 127, and on values that
fall exactly half-way between two integers, where only round-half-to-even agrees with torch.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from grader.testing import SHAPES, assert_close, fail, randn

pytestmark = pytest.mark.exercise("compression")


def _prune_error(m, weight, amount):
    try:
        m.magnitude_prune(weight, amount)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:
        return type(error).__name__
    return "no error"


def torch_prune(weight, amount):
    """(pruned weight, mask) from torch.nn.utils.prune.l1_unstructured."""
    holder = nn.Module()
    holder.weight = nn.Parameter(weight.clone())
    prune.l1_unstructured(holder, "weight", amount)
    return holder.weight.detach(), holder.weight_mask


def mask_pruning(weight, k, key):
    """A mask pruning the k entries that come first in the order of `key` (a mistaken order)."""
    mask = torch.ones(weight.numel(), dtype=weight.dtype)
    mask[torch.argsort(key.flatten(), stable=True)[:k]] = 0
    return mask.view(weight.shape)


def check_pair(got, weight, what):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(f"{what}: expected a pair (pruned weight, mask), got {type(got).__name__}")
    pruned, mask = got
    for name, value in (("pruned weight", pruned), ("mask", mask)):
        if not isinstance(value, torch.Tensor) or value.shape != weight.shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            fail(f"{what}: the {name} should have the weight's shape {tuple(weight.shape)}, got {shape}")
    if mask.dtype != weight.dtype:
        fail(f"{what}: the mask has dtype {mask.dtype}, expected the weight's dtype {weight.dtype} (like torch's weight_mask)")
    return pruned, mask


def check_quant_pair(got, x, what):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(f"{what}: expected a pair (dequantized x, scale), got {type(got).__name__}")
    out, scale = got
    if not isinstance(scale, float):
        fail(f"{what}: the scale should be a Python float, got {type(scale).__name__}")
    if not isinstance(out, torch.Tensor) or out.dtype != x.dtype:
        kind = out.dtype if isinstance(out, torch.Tensor) else type(out).__name__
        fail(f"{what}: the result should be a tensor of x's dtype {x.dtype}, got {kind}")
    return out, scale


def torch_fake_quant(x, scale):
    return torch.fake_quantize_per_tensor_affine(x, scale, 0, -128, 127)


# --- magnitude_prune ----------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Prune the entries of smallest absolute value; a float amount is a fraction of all entries, rounded to the nearest count."
)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_magnitude_prune_matches_torch_l1_unstructured(student, shape):
    # Two weights of mixed signs. On three entries, pruning 1 by signed value (amount 0.37) differs from
    # pruning the smallest and the largest |w| only if the most negative entry has the middle |w|, and
    # pruning 2 (the other amounts) only if the largest entry has it: one weight cannot do both.
    for amount, seed in ((0.37, 2), (0.5, 17), (0.8, 17), (2, 17)):
        weight = randn(*shape, seed=seed)
        numel = weight.numel()
        want_pruned, want_mask = torch_prune(weight, amount)
        pruned, mask = check_pair(student.magnitude_prune(weight, amount), weight, f"amount={amount}")
        k = amount if isinstance(amount, int) else round(amount * numel)
        mistakes = {
            "pruned by signed value: the most negative weights are not the least important, use |w|": mask_pruning(
                weight, k, weight
            ),
            "pruned the largest weights instead of the smallest": mask_pruning(weight, k, -weight.abs()),
        }
        if 2 * k != numel:  # pruning half: keeping the k smallest is pruning the k largest, named above
            mistakes["kept the k smallest and pruned the rest: amount is how many to prune"] = 1 - mask_pruning(
                weight, k, weight.abs()
            )
        if isinstance(amount, float) and math.floor(amount * numel) != k:
            mistakes["pruned floor(amount·n) entries: torch rounds to the nearest count"] = mask_pruning(
                weight, math.floor(amount * numel), weight.abs()
            )
        assert_close(mask, want_mask, what=f"mask for amount={amount}", mistakes=mistakes)
        assert_close(pruned, want_pruned, what=f"pruned weight for amount={amount}")


@pytest.mark.points(1)
@pytest.mark.hint("An int amount is a number of entries (1 prunes one entry); a float is a fraction (1.0 prunes all).")
def test_magnitude_prune_reads_an_int_as_a_count_and_a_float_as_a_fraction(student):
    weight = randn(4, 5, seed=2, dtype=torch.float32)
    for amount in (0, 1, 7, 20, 0.0, 1.0):
        want_pruned, want_mask = torch_prune(weight, amount)
        pruned, mask = check_pair(student.magnitude_prune(weight, amount), weight, f"amount={amount!r}")
        count, want_count = int((mask == 0).sum()), int((want_mask == 0).sum())
        if count != want_count:
            fail(f"amount={amount!r} pruned {count} entries, expected {want_count}")
        assert_close(mask, want_mask, what=f"mask for amount={amount!r}")
        assert_close(pruned, want_pruned, what=f"pruned weight for amount={amount!r}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Among equal magnitudes the earlier entry (in flattened order) is pruned first; a stable sort keeps that order."
)
def test_magnitude_prune_breaks_ties_by_position(student):
    weight = torch.tensor([[1.0, -1.0, 2.0, 0.5], [-1.0, 0.5, 2.0, -0.5], [1.0, 3.0, -2.0, 1.0]], dtype=torch.float64)
    flat = weight.abs().flatten()
    position = torch.arange(flat.numel())
    # rank of each entry: the entries of smaller magnitude, plus the equal ones that come before it
    rank = (flat[None, :] < flat[:, None]).sum(1) + ((flat[None, :] == flat[:, None]) & (position[None, :] < position[:, None])).sum(1)
    for k in (2, 4, 6, 9):
        want = (rank >= k).to(weight.dtype).view(weight.shape)
        _, mask = check_pair(student.magnitude_prune(weight, k), weight, f"amount={k}")
        count = int((mask == 0).sum())
        if count != k:
            fail(f"amount={k} pruned {count} entries of a weight with ties, expected exactly {k}: prune a count, not a threshold")
        assert_close(mask, want, what=f"mask for amount={k} with tied magnitudes")


@pytest.mark.points(1)
@pytest.mark.hint("A fraction lives in [0, 1] and a count in [0, weight.numel()]; anything else is a ValueError.")
def test_magnitude_prune_rejects_amounts_out_of_range(student):
    weight = randn(3, 4, seed=3)
    for amount in (-0.1, 1.5, 13, -1):
        raised = student.run(_prune_error, weight, amount)
        if raised != "ValueError":
            fail(f"amount={amount!r} for a weight of 12 entries gave {raised}, expected a ValueError")


# --- fake_quant_int8 ----------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("The symmetric scale maps the largest |x| to 127; quantize, round, clamp and multiply back.")
@pytest.mark.parametrize("shape", SHAPES + [(3, 17, 11)], ids=str)
def test_fake_quant_int8_matches_torch_fake_quantize(student, shape):
    for dtype in (torch.float32, torch.float64):
        x = randn(*shape, seed=6, dtype=dtype, scale=3.0)  # seed 4 rounded every x / scale of (1, 3) down
        scale = x.abs().max().item() / 127
        out, got_scale = check_quant_pair(student.fake_quant_int8(x), x, f"{dtype}")
        assert_close(
            got_scale,
            scale,
            rtol=1e-6,
            what="scale",
            mistakes={"scale divides max|x| by 128: the symmetric int8 range is [-127, 127]": scale * 127 / 128,
                      "scale divides max|x| by 255: the symmetric scale maps max|x| to 127": scale * 127 / 255},
        )
        assert_close(
            out,
            torch_fake_quant(x, scale),
            what=f"fake-quantized x ({dtype})",
            mistakes={"x / scale was truncated toward zero, not rounded": torch.trunc(x / scale) * scale},
        )


@pytest.mark.points(2)
@pytest.mark.hint("Halves round to the nearest even integer (0.5 -> 0, 1.5 -> 2, 2.5 -> 2), as torch.round does.")
@pytest.mark.parametrize("step", [1.0, 0.25])
def test_fake_quant_int8_rounds_half_to_even(student, step):
    levels = torch.tensor([127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, -3.5, 10.5, -126.5])
    x = levels * step  # the scale is exactly `step`, so x / scale lands exactly half-way
    out, _ = check_quant_pair(student.fake_quant_int8(x), x, "half-way values")
    want = torch_fake_quant(x, step)
    half_up = torch.floor(levels + 0.5) * step
    away_from_zero = torch.sign(levels) * torch.floor(levels.abs() + 0.5) * step
    assert_close(
        out,
        want,
        what="fake-quantized half-way values",
        mistakes={
            "rounded half away from zero (2.5 -> 3): torch rounds half to even": away_from_zero,
            "rounded half up with floor(v + 0.5): torch rounds half to even": half_up,
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint("max|x| = 0 makes the scale 0 and x / scale NaN: pick a positive scale when the tensor is all zeros.")
@pytest.mark.parametrize("shape", [(1,), (4, 3)], ids=str)
def test_fake_quant_int8_of_all_zeros_is_zeros_without_nan(student, shape):
    x = torch.zeros(shape)
    out, scale = check_quant_pair(student.fake_quant_int8(x), x, "all-zero x")
    if torch.isnan(out).any():
        fail("NaN for an all-zero tensor: the scale max|x|/127 is 0 there, and 0/0 is NaN")
    if not (math.isfinite(scale) and scale > 0):
        fail(f"scale {scale!r} for an all-zero tensor, expected a positive finite number")
    assert_close(out, torch.zeros(shape), what="fake-quantized zeros")
