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
    raise NotImplementedError("pad2d() is not implemented yet")


def _source_index(size: int, before: int, after: int, mode: str, device: torch.device) -> torch.Tensor:
    """For each output position along one dim, the input position it copies (a LongTensor)."""
    # TODO: positions -before .. size + after - 1, mapped into [0, size) by reflecting, clamping or wrapping.
    raise NotImplementedError("_source_index() is not implemented yet")
