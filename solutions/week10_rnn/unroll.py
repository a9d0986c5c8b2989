"""Unrolling a recurrent cell over a sequence, with an initial state and sequences of different lengths.

A cell computes one time step (see cells.py); unrolling applies it at t = 0, 1, ..., T - 1,
feeding each step the state the previous step returned. The cell may be an Elman RNN or a GRU,
whose state is one tensor h of shape (N, H), or an LSTM, whose state is a pair (h, c); either way
the output at step t is h.

Sequences in a batch are padded to a common length T. With `lengths`, sequence n is only
lengths[n] steps long: from step lengths[n] on, its state stops changing (it keeps the state of
its last real step) and its outputs are zeros, which is what nn.RNN / nn.LSTM / nn.GRU give on a
packed sequence (pack_padded_sequence, then pad_packed_sequence).

Layouts: batch_first=True means x is (N, T, F) and the outputs (N, T, H); batch_first=False means
(T, N, F) and (T, N, H), as torch's recurrent layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

State = Any  # a tensor h of shape (N, H), or a tuple (h, c) of such tensors


def hidden_of(state: State) -> torch.Tensor:
    """The output part of a state: h itself, or h from an LSTM's (h, c) (given: not an exercise)."""
    return state[0] if isinstance(state, tuple) else state


def rnn_unroll(
    cell: Callable[[torch.Tensor, State], State],
    x: torch.Tensor,
    h0: State | None = None,
    lengths: torch.Tensor | None = None,
    batch_first: bool = True,
) -> tuple[torch.Tensor, State]:
    """Run `cell` over every time step of x.

    cell: called as cell(x_t, state) with x_t of shape (N, F) and state None at t = 0 when h0 is
        None (the cell then starts from zeros), and returns the next state.
    x: (N, T, F) if batch_first else (T, N, F).
    h0: the initial state (a tensor (N, H) or a tuple (h, c)), or None for zeros.
    lengths: LongTensor (N,) of true lengths in [1, T], or None when every sequence has length T.
    Returns: (outputs, h_n). outputs: (N, T, H) if batch_first else (T, N, H), the h of each step,
        zeros at steps t >= lengths[n]; h_n: the state after each sequence's last real step, of
        h0's structure (a tensor, or a tuple for an LSTM cell).
    """
    # TODO: walk the time axis (which one depends on batch_first), carrying the state from step to step.
    # TODO: with lengths, a sequence that has ended keeps its state: select, per row, the new state
    #       or the old one (for an LSTM, both h and c). Before the first step the old state is h0, or zeros.
    # TODO: padded outputs are zeros; stack the outputs along the time axis of the input's layout.
    ### BEGIN SOLUTION
    steps = x.transpose(0, 1) if batch_first else x
    state = h0
    outputs = []
    for t in range(steps.shape[0]):
        new = cell(steps[t], state)
        if lengths is not None:
            alive = (t < lengths).to(steps.device).unsqueeze(-1)
            if isinstance(new, tuple):
                old = state if state is not None else tuple(torch.zeros_like(part) for part in new)
                new = tuple(torch.where(alive, n, o) for n, o in zip(new, old))
            else:
                old = state if state is not None else torch.zeros_like(new)
                new = torch.where(alive, new, old)
            outputs.append(hidden_of(new) * alive)
        else:
            outputs.append(hidden_of(new))
        state = new
    out = torch.stack(outputs, dim=1 if batch_first else 0)
    return out, state
    ### END SOLUTION
