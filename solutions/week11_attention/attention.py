"""Scaled dot-product attention, the core of every transformer.

Each query asks "which keys look like me?": its scores are the dot products with every key,
divided by √d_k so that their spread does not grow with the dimension (with d_k = 64 unscaled
scores are ~8 times too large and the softmax saturates). A softmax along the keys turns a
query's scores into weights that sum to 1, and the output is the weighted sum of the values:

    weights = softmax(q kᵀ / √d_k + mask)        (..., Lq, Lk)
    out     = weights v                          (..., Lq, d_v)

q: (..., Lq, d_k), k: (..., Lk, d_k), v: (..., Lk, d_v): any leading (batch, head) dims, the
same for all three; d_k and d_v may differ.

Masks follow torch.nn.functional.scaled_dot_product_attention, and are broadcast to
(..., Lq, Lk):
  - a boolean mask: True means the key TAKES PART in attention, False means it is ignored (its
    score becomes -inf before the softmax);
  - a floating mask: added to the scores (0 keeps a key, -inf removes it, anything else biases it);
  - is_causal=True: query i may attend to keys 0..i only (a lower-triangular mask aligned at the
    top-left corner, also when Lq != Lk), as torch does. Give either a mask or is_causal, not both.

A query whose keys are ALL masked has no weights to normalize: torch 2.13 returns zeros for its
row of weights and of the output (not NaN), and so must you, with zero gradients for that row.
"""

from __future__ import annotations

import math

import torch


def attention_weights(
    q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None, is_causal: bool = False
) -> torch.Tensor:
    """softmax(q kᵀ / √d_k + mask) along the keys: (..., Lq, Lk), each row sums to 1 (or is all 0).

    q: (..., Lq, d_k), k: (..., Lk, d_k). mask and is_causal: see the module docstring.
    Raises ValueError when both a mask and is_causal=True are given.
    """
    # TODO: reject a mask together with is_causal (torch does too).
    # TODO: scores: every query with every key, scaled by 1/√d_k (k's last dim).
    # TODO: mask the SCORES (not the probabilities): False / -inf entries must get weight 0.
    # TODO: softmax along the keys; rows whose keys are all masked become 0, not NaN.
    ### BEGIN SOLUTION
    if mask is not None and is_causal:
        raise ValueError("attention: give either a mask or is_causal=True, not both")
    d_k = k.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    if is_causal:
        n_q, n_k = scores.shape[-2], scores.shape[-1]
        mask = torch.ones(n_q, n_k, dtype=torch.bool, device=scores.device).tril()
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    dead = torch.isneginf(scores).all(dim=-1, keepdim=True)
    scores = scores.masked_fill(dead, 0.0)
    weights = torch.softmax(scores, dim=-1)
    return weights.masked_fill(dead, 0.0)
    ### END SOLUTION


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    is_causal: bool = False,
) -> torch.Tensor:
    """Scaled dot-product attention, like F.scaled_dot_product_attention(q, k, v, mask, is_causal=...).

    q: (..., Lq, d_k), k: (..., Lk, d_k), v: (..., Lk, d_v). Returns: (..., Lq, d_v).
    """
    # TODO: the weights times the values.
    ### BEGIN SOLUTION
    return attention_weights(q, k, mask=mask, is_causal=is_causal) @ v
    ### END SOLUTION
