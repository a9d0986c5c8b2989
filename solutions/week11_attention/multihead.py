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
        ### BEGIN SOLUTION
        if embed_dim % num_heads != 0:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.batch_first = batch_first
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        nn.init.xavier_uniform_(self.in_proj_weight)
        if bias:
            self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        ### END SOLUTION

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
        ### BEGIN SOLUTION
        if not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        n, n_q, e = query.shape
        n_k = key.shape[1]
        h, hd = self.num_heads, self.head_dim
        w_q, w_k, w_v = self.in_proj_weight.chunk(3, dim=0)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None, None, None)
        q = nn.functional.linear(query, w_q, b_q)
        k = nn.functional.linear(key, w_k, b_k)
        v = nn.functional.linear(value, w_v, b_v)
        q = q.reshape(n, n_q, h, hd).transpose(1, 2)
        k = k.reshape(n, n_k, h, hd).transpose(1, 2)
        v = v.reshape(n, n_k, h, hd).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(hd)  # (N, H, L, S)
        if attn_mask is not None:
            if attn_mask.dtype == torch.bool:
                attn_mask = torch.zeros(attn_mask.shape, dtype=scores.dtype).masked_fill(attn_mask, float("-inf"))
            if attn_mask.dim() == 3:
                attn_mask = attn_mask.reshape(n, h, n_q, n_k)
            scores = scores + attn_mask
        if key_padding_mask is not None:
            if key_padding_mask.dtype == torch.bool:
                pad = torch.zeros(key_padding_mask.shape, dtype=scores.dtype)
                key_padding_mask = pad.masked_fill(key_padding_mask, float("-inf"))
            scores = scores + key_padding_mask[:, None, None, :]
        weights = torch.softmax(scores, dim=-1)
        heads = weights @ v  # (N, H, L, hd)
        out = self.out_proj(heads.transpose(1, 2).reshape(n, n_q, e))
        if not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, weights.mean(dim=1) if average_attn_weights else weights
        ### END SOLUTION
