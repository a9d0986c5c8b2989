"""Layer norm and group norm: normalize each example on its own, so the batch size never matters.

Layer norm normalizes each example over its last dims, the ones `normalized_shape` names (for a
transformer's (N, T, D) activations, normalized_shape = (D,) normalizes every token's features).
Group norm splits the C channels of an (N, C, *) input into `num_groups` groups of C / G
consecutive channels, and normalizes each example's group over its channels and positions.
Both use the biased variance and put eps inside the square root: (x - mean) / sqrt(var + eps).
Then an optional elementwise scale (`weight`) and shift (`bias`) are applied: of
`normalized_shape` for layer norm, one per channel (C,) for group norm.
"""

from __future__ import annotations

import torch


def layer_norm(
    x: torch.Tensor,
    normalized_shape: int | tuple[int, ...] | list[int],
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Like F.layer_norm: normalize x over its last len(normalized_shape) dims.

    x: (*, *normalized_shape). normalized_shape: an int (one dim) or a tuple of the last dims' sizes.
    weight, bias: None or tensors of shape normalized_shape. Returns: a tensor of x's shape.
    """
    # TODO: turn an int normalized_shape into a tuple; which dims does it name?
    # TODO: mean and biased variance over those dims (keepdim), eps inside the square root.
    ### BEGIN SOLUTION
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    dims = tuple(range(x.dim() - len(normalized_shape), x.dim()))
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, unbiased=False, keepdim=True)
    out = (x - mean) / torch.sqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out
    ### END SOLUTION


def group_norm(
    x: torch.Tensor,
    num_groups: int,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Like F.group_norm: normalize each example's groups of C / num_groups consecutive channels.

    x: (N, C, *) (e.g. (N, C) or (N, C, H, W)). weight, bias: None or tensors of shape (C,).
    Raises ValueError when C is not divisible by num_groups. Returns: a tensor of x's shape.
    """
    # TODO: check that the channels split evenly into groups.
    # TODO: view x as (N, num_groups, -1): channels 0 .. C/G - 1 form group 0, and so on.
    # TODO: normalize each row of that view, reshape back, then scale and shift per channel.
    ### BEGIN SOLUTION
    n, c = x.shape[0], x.shape[1]
    if c % num_groups != 0:
        raise ValueError(f"group_norm: {c} channels cannot be split into {num_groups} groups")
    grouped = x.reshape(n, num_groups, -1)
    mean = grouped.mean(dim=-1, keepdim=True)
    var = grouped.var(dim=-1, unbiased=False, keepdim=True)
    out = ((grouped - mean) / torch.sqrt(var + eps)).reshape(x.shape)
    shape = [1, c] + [1] * (x.dim() - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out
    ### END SOLUTION
