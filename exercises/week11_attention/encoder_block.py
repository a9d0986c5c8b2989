"""A pre-norm transformer encoder block, as nn.TransformerEncoderLayer(norm_first=True).

Each block has two sub-layers, each wrapped in a residual connection. In the pre-norm layout
(GPT-2 and most modern transformers) the LayerNorm is applied to the input of each sub-layer,
inside the residual branch, so the residual stream itself is never normalized:

    x = x + SelfAttention(LayerNorm1(x))
    x = x + Linear2(GELU(Linear1(LayerNorm2(x))))       d_model -> d_ff -> d_model

(The original post-norm layout computes x = LayerNorm(x + SubLayer(x)) instead.)

The sub-modules have nn.TransformerEncoderLayer's names, so that
`block.load_state_dict(torch_layer.state_dict())` works:
    self_attn: nn.MultiheadAttention(d_model, n_heads, batch_first=True) (you may use torch's
               here; week 11.3 is where you write it yourself),
    linear1: nn.Linear(d_model, d_ff), linear2: nn.Linear(d_ff, d_model),
    norm1, norm2: nn.LayerNorm(d_model, eps=1e-5).
No dropout (torch's layer is compared with dropout=0.0); the activation is the exact GELU.
Do not use nn.TransformerEncoderLayer or nn.TransformerEncoder themselves.
"""

from __future__ import annotations

import torch
from torch import nn


class PreNormEncoderBlock(nn.Module):
    """forward(x, causal=False, key_padding_mask=None): x (N, T, d_model) -> (N, T, d_model).

    causal=True lets position t attend to positions 0..t only. key_padding_mask (N, T): True marks
    padding keys that no position may attend to (nn.MultiheadAttention's convention).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int) -> None:
        super().__init__()
        # TODO: the five sub-modules, with the names the module docstring gives.
        raise NotImplementedError("__init__() is not implemented yet")

    def forward(
        self, x: torch.Tensor, causal: bool = False, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        # TODO: build the causal mask if asked (with nn.MultiheadAttention's polarity).
        # TODO: the two residual sub-layers, normalizing each sub-layer's input.
        raise NotImplementedError("forward() is not implemented yet")
