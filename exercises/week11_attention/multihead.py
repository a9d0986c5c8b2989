"""Multi-head attention with nn.MultiheadAttention's parameters, masks and outputs.

One attention head compares queries and keys in a single d-dimensional space. Multi-head
attention runs `num_heads` of them side by side, each in its own head_dim = embed_dim / num_heads
slice of the projected features, then concatenates the heads and mixes them with an output
projection:

    Q = query W_qᵀ + b_q,  K = key W_kᵀ + b_k,  V = value W_vᵀ + b_v        (N, L|S, E)
    split the features E into (num_heads, head_dim); time stays intact       (N, H, L|S, head_dim)
    head_h = softmax(Q_h K_hᵀ / √head_dim + masks) V_h                        (N, H, L, head_dim)
    out = concat_h(head_h) W_oᵀ + b_o                                         (N, L, E)

The parameters have torch's names and layouts, so that
`mine.load_state_dict(nn.MultiheadAttention(E, H).state_dict())` works:
  - in_proj_weight (3E, E): W_q, W_k, W_v stacked in that order along dim 0;
  - in_proj_bias (3E,): b_q, b_k, b_v (None when bias=False);
  - out_proj: an nn.Linear(E, E) (without bias when bias=False).

Shapes: with batch_first=True, query is (N, L, E) and key, value are (N, S, E); with
batch_first=False (torch's default) they are (L, N, E) and (S, N, E), and the output follows the
same layout. Only batched inputs are accepted.

Masks, with torch's conventions, which are NOT those of scaled_dot_product_attention:
  - key_padding_mask (N, S): a boolean True means "this key is padding: IGNORE it"; a floating
    mask is added to the scores.
  - attn_mask (L, S) or (N·num_heads, L, S): a boolean True means "NOT allowed to attend"; a
    floating mask is added to the scores. In the 3-d form, entry n·num_heads + h is for batch
    element n and head h.
A query whose keys are all masked is not specified (torch's MultiheadAttention gives NaN there).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    """nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=batch_first) from scratch.

    Attributes: in_proj_weight, in_proj_bias, out_proj (see the module docstring), embed_dim,
    num_heads, head_dim, batch_first. Raises ValueError unless num_heads divides embed_dim.
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True, batch_first: bool = False) -> None:
        super().__init__()
        # TODO: check the sizes, then register the parameters with torch's names and shapes
        #       (their initial values do not matter: the tests load torch's).
        raise NotImplementedError("__init__() is not implemented yet")

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = True,
        attn_mask: torch.Tensor | None = None,
        average_attn_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(output, weights), like nn.MultiheadAttention.forward.

        output: (N, L, E) if batch_first else (L, N, E).
        weights: None if not need_weights; else the attention weights averaged over the heads,
        (N, L, S), or per head, (N, num_heads, L, S), when average_attn_weights=False.
        """
        # TODO: bring the inputs to (N, time, E); project with the three slices of in_proj_*.
        # TODO: split the features into heads: (N, T, E) -> (N, H, T, head_dim), keeping time intact.
        # TODO: scores scaled by 1/√head_dim; turn both masks into additive -inf/0 masks with
        #       torch's polarity (True = ignore) and add them; softmax over the keys.
        # TODO: merge the heads back to (N, L, E), apply out_proj, restore the input layout.
        raise NotImplementedError("forward() is not implemented yet")
