"""Padding an image on its four sides: constant, reflect, replicate and circular, as F.pad does.

pad = (left, right, top, bottom), in F.pad's order: the tuple starts with the LAST dim (width),
then the one before it (height). x has shape (..., H, W) (for example (N, C, H, W)); the result has
shape (..., top + H + bottom, left + W + right). On one row [a, b, c, d] with a pad of 2 on each side:

    constant (value 0)  0 0 | a b c d | 0 0
    reflect             c b | a b c d | c b     (mirrored about the edge cell, which is not repeated)
    replicate           a a | a b c d | d d     (the edge cell repeated)
    circular            c d | a b c d | a b     (wraps around, as if the image tiled the plane)

Reflect needs every pad to be smaller than the size it mirrors (pad < size), and circular needs
pad <= size: there is nothing more to mirror or to wrap. Pads are non-negative ints.
"""

from __future__ import annotations

import torch

MODES = ("constant", "reflect", "replicate", "circular")


def pad2d(
    x: torch.Tensor, pad: tuple[int, int, int, int], mode: str = "constant", value: float = 0.0
) -> torch.Tensor:
    """x padded on its last two dims by pad = (left, right, top, bottom), in the given mode.

    x: (..., H, W) with at least 2 dims. value fills the border in constant mode only.
    Returns a tensor of x's dtype, (..., top + H + bottom, left + W + right).
    Raises ValueError for an unknown mode, a negative pad, a reflect pad >= the size it mirrors,
    or a circular pad > the size it wraps.
    """
    left, right, top, bottom = pad
    height, width = x.shape[-2], x.shape[-1]
    # TODO: check the mode and the pads (non-negative; small enough for reflect and circular).
    # TODO: constant: a new tensor filled with value, with x copied into its middle.
    # TODO: the other modes are a gather: for each output row, which input row does it copy?
    #       Build that index for rows (from -top to H + bottom) and for columns, map it into
    #       [0, size) the way the mode says, then index x with it (index_select, or x[..., rows, :]).
    ### BEGIN SOLUTION
    if mode not in MODES:
        raise ValueError(f"unknown padding mode {mode!r}; expected one of {MODES}")
    if min(pad) < 0:
        raise ValueError(f"pads must be non-negative, got {pad}")
    if mode == "reflect" and (max(left, right) >= width or max(top, bottom) >= height):
        raise ValueError(f"reflect padding {pad} must be smaller than the input's size {(height, width)}")
    if mode == "circular" and (max(left, right) > width or max(top, bottom) > height):
        raise ValueError(f"circular padding {pad} must not exceed the input's size {(height, width)}")
    if mode == "constant":
        out = x.new_full((*x.shape[:-2], top + height + bottom, left + width + right), value)
        out[..., top : top + height, left : left + width] = x
        return out
    rows = _source_index(height, top, bottom, mode, x.device)
    cols = _source_index(width, left, right, mode, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)
    ### END SOLUTION


def _source_index(size: int, before: int, after: int, mode: str, device: torch.device) -> torch.Tensor:
    """For each output position along one dim, the input position it copies (a LongTensor)."""
    # TODO: positions -before .. size + after - 1, mapped into [0, size) by reflecting, clamping or wrapping.
    ### BEGIN SOLUTION
    index = torch.arange(-before, size + after, device=device)
    if mode == "reflect":
        index = index.abs()
        return torch.where(index > size - 1, 2 * (size - 1) - index, index)
    if mode == "replicate":
        return index.clamp(0, size - 1)
    return index.remainder(size)
    ### END SOLUTION
