"""Compression: magnitude pruning and int8 fake quantization.

Magnitude pruning zeroes the weights of smallest absolute value, on the bet that they matter
least. `amount` says how many: a float is a fraction of all the entries (rounded to the nearest
count, as torch.nn.utils.prune does), an int is a count. Among equal magnitudes, the entry that
comes first (in flattened order) is pruned first, so the result never depends on a sort's whims.

Fake quantization simulates int8 storage in floating point: map x to integers q in [-127, 127]
with the symmetric per-tensor scale s = max|x| / 127, round, and map back: x̂ = q · s. Rounding
is round-half-to-even (banker's rounding), as torch.round and the quantization kernels do:
0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0.
"""

from __future__ import annotations

import torch


def magnitude_prune(weight: torch.Tensor, amount: float | int) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero the `amount` entries of smallest |weight|; returns (pruned weight, mask).

    weight: any shape. amount: a float in [0, 1] (fraction of weight.numel(), rounded with
    Python's round, like torch) or an int in [0, weight.numel()] (a count); else ValueError.
    Returns:
      pruned: weight * mask, weight's shape and dtype.
      mask: weight's shape and dtype (like torch's weight_mask), 0 where pruned and 1 elsewhere.
    Ties: among equal |weight|, the entry earlier in weight.flatten() is pruned first.
    """
    # TODO: turn amount into a number of entries k, validating it (an int is a count).
    # TODO: rank the magnitudes with a *stable* sort and zero the first k positions of the mask.
    ### BEGIN SOLUTION
    numel = weight.numel()
    if isinstance(amount, int):
        if not 0 <= amount <= numel:
            raise ValueError(f"amount={amount} entries to prune, but the weight has {numel}")
        k = amount
    else:
        if not 0.0 <= amount <= 1.0:
            raise ValueError(f"amount={amount} as a fraction must be in [0, 1]")
        k = round(amount * numel)
    order = torch.argsort(weight.detach().abs().flatten(), stable=True)
    mask = torch.ones(numel, dtype=weight.dtype, device=weight.device)
    mask[order[:k]] = 0
    mask = mask.reshape(weight.shape)
    return weight * mask, mask
    ### END SOLUTION


def fake_quant_int8(x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Symmetric per-tensor int8 fake quantization of x; returns (dequantized x, scale).

    x: any shape, floating point. scale = max|x| / 127 as a Python float; q = round(x / scale)
    rounded half to even and clamped to [-127, 127]; the result q * scale has x's shape and dtype.
    An all-zero x gives zeros (never NaN) and any positive finite scale (1.0 is fine).
    """
    # TODO: the scale maps the largest |x| to 127; guard the all-zero tensor.
    # TODO: which torch function rounds half to even? (Not floor(v + 0.5).)
    ### BEGIN SOLUTION
    max_abs = x.detach().abs().max().item() if x.numel() else 0.0
    scale = max_abs / 127 if max_abs > 0 else 1.0
    q = torch.round(x / scale).clamp(-127, 127)
    return q * scale, scale
    ### END SOLUTION
