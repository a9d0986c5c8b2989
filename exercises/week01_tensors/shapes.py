"""Shapes: how tensors of different shapes combine (broadcasting), and how a list of tensors becomes one.

Broadcasting lines two shapes up at their LAST dims; the shorter shape is padded with 1s in front.
In each dim the two sizes must be equal, or one of them must be 1, which is stretched to the
other. A size 0 is a size like any other: it matches 0 or 1, nothing else. Stacking and
concatenating both join a list of tensors into one: `stack` puts equally shaped tensors side by
side along a NEW axis, `concat` joins them along an EXISTING one. Two (3,) vectors stack to
(2, 3) and concatenate to (6,).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The shape that tensors of shapes a and b broadcast to, like torch.broadcast_shapes(a, b).

    a, b: shapes, tuples of sizes >= 0 of any length (() is the shape of a scalar).
    Returns: a tuple of ints of length max(len(a), len(b)).
    Raises: ValueError when the shapes do not broadcast; the message names both sizes and the dim
    where they clash, counted from the right (e.g. "dim -2: sizes 3 and 4").
    """
    # TODO: line the shapes up at their last dims: pad the shorter one with 1s in front.
    # TODO: walk the dims: equal sizes stay, a size 1 stretches to the other size, and any other
    #       pair is an error (is 0 special? compare with torch.broadcast_shapes).
    raise NotImplementedError("broadcast_shape() is not implemented yet")


def concat(xs: Sequence[torch.Tensor], dim: int = 0) -> torch.Tensor:
    """Join tensors along an existing dim, like torch.cat(xs, dim).

    xs: a non-empty sequence of tensors of one rank r >= 1 and one dtype, whose shapes agree in
    every dim except `dim`.
    dim: the dim to join along, in -r..r-1.
    Returns: a tensor of the same rank whose size along `dim` is the sum of the inputs' sizes,
    with the inputs' dtype.
    Raises: ValueError for an empty sequence, or for shapes that differ outside `dim`.
    """
    # TODO: check the inputs first: an empty sequence, a rank that differs, or a size that differs
    #       in a dim other than `dim` is a ValueError whose message says which.
    # TODO: then one torch.cat joins them.
    raise NotImplementedError("concat() is not implemented yet")


def stack(xs: Sequence[torch.Tensor], dim: int = 0) -> torch.Tensor:
    """Join equally shaped tensors along a new dim, like torch.stack(xs, dim).

    xs: a non-empty sequence of tensors of one shape S (of rank r) and one dtype.
    dim: the position of the new axis in the result, which has r + 1 dims: in -(r+1)..r
    (dim=-1 makes it the last axis).
    Returns: a tensor of shape S[:dim] + (len(xs),) + S[dim:] for dim >= 0, with the inputs' dtype.
    Raises: ValueError for an empty sequence, or for tensors of different shapes.
    """
    # TODO: check the inputs: an empty sequence or two different shapes is a ValueError.
    # TODO: give every tensor a new axis of size 1 (unsqueeze) where the new axis of the result
    #       goes, then join them along that axis with a single torch.cat (or your concat).
    # TODO: a negative dim counts from the end of the RESULT, which has one dim more than the inputs.
    raise NotImplementedError("stack() is not implemented yet")
