"""Recurrent cells from scratch: Elman RNN, LSTM and GRU, with torch's parameter layout.

A cell is one time step: it takes the input x_t of shape (N, input_size) (or (input_size,) for a
single example) and the previous state, and returns the next state. Each cell keeps its weights
exactly as torch's nn.RNNCell / nn.LSTMCell / nn.GRUCell do, so a state_dict moves between them:

  weight_ih: (G·hidden_size, input_size)    weight_hh: (G·hidden_size, hidden_size)
  bias_ih:   (G·hidden_size,)               bias_hh:   (G·hidden_size,)

with G = 1 for the RNN, 4 for the LSTM (the gates stacked in the order i, f, g, o) and 3 for the
GRU (r, z, n). Weights are stored (out, in), so an input row x is projected as x @ weight_ih.T.
Every parameter starts uniform in [-1/sqrt(hidden_size), 1/sqrt(hidden_size)], as in torch.

A missing state (None) means zeros. The state belongs to the sequence, not to the module: a cell
never remembers anything between calls.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _uniform_parameter(*shape: int, bound: float) -> nn.Parameter:
    """A new parameter of the given shape, uniform in [-bound, bound] (given: not an exercise)."""
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class RNNCell(nn.Module):
    """Elman cell: h' = act(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh), act = tanh or relu.

    Parameters (named as in nn.RNNCell): weight_ih (H, F), weight_hh (H, H), bias_ih (H,), bias_hh (H,).
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> None:
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"unknown nonlinearity {nonlinearity!r}: use 'tanh' or 'relu'")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.nonlinearity = nonlinearity
        bound = 1.0 / math.sqrt(hidden_size)
        # TODO: the four parameters of the docstring, each made with _uniform_parameter(..., bound=bound).
        raise NotImplementedError("__init__() is not implemented yet")

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """One step. x: (N, F) or (F,); h: (N, H) or (H,), None for zeros. Returns h': h's shape."""
        # TODO: a missing state is zeros of shape (*x.shape[:-1], H), with x's dtype.
        # TODO: both projections with their biases, then the nonlinearity the cell was built with.
        raise NotImplementedError("forward() is not implemented yet")


class LSTMCell(nn.Module):
    """LSTM cell with torch's gate order i, f, g, o.

    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, split into four chunks of H: i, f, g, o.
    i = σ(i), f = σ(f), g = tanh(g), o = σ(o);  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c').
    Parameters (named as in nn.LSTMCell): weight_ih (4H, F), weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,).
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        # TODO: the four parameters of the docstring (4·H rows: one block of H per gate).
        raise NotImplementedError("__init__() is not implemented yet")

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step. x: (N, F) or (F,); state: (h, c), each (N, H) or (H,), None for zeros.

        Returns: (h', c'), in that order (as nn.LSTMCell).
        """
        # TODO: a missing state is a pair of zero tensors.
        # TODO: one projection of 4H pre-activations, split into the gates in torch's order.
        raise NotImplementedError("forward() is not implemented yet")


class GRUCell(nn.Module):
    """GRU cell with torch's gate order r, z, n and torch's placement of the reset gate.

    r = σ(W_ir x + b_ir + W_hr h + b_hr)
    z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))     (r scales the hidden projection, bias included)
    h' = (1 − z) ⊙ n + z ⊙ h
    Parameters (named as in nn.GRUCell): weight_ih (3H, F), weight_hh (3H, H), bias_ih (3H,), bias_hh (3H,).
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        # TODO: the four parameters of the docstring (3·H rows: one block of H per gate).
        raise NotImplementedError("__init__() is not implemented yet")

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """One step. x: (N, F) or (F,); h: (N, H) or (H,), None for zeros. Returns h': h's shape."""
        # TODO: project x and h separately (each with its bias), then split each projection into r, z, n.
        # TODO: the reset gate multiplies the whole hidden projection of n, bias included.
        raise NotImplementedError("forward() is not implemented yet")
