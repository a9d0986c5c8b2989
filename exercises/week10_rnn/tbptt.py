"""Truncated back-propagation through time (TBPTT) and gradient clipping.

Back-propagating through a whole long sequence costs memory in T and multiplies T Jacobians,
which can explode. TBPTT cuts the sequence into windows of k steps: the state still flows
forward from one window to the next (its *value* is carried), but it is detached at each window
boundary, so gradients stop there. With k = 3 the state is detached before steps 3, 6, 9, ...:
the output at step t depends, through autograd, only on the inputs of its own window,
x[⌊t/k⌋·k], ..., x[t]. Detaching changes no value, only the gradients.

Training with TBPTT takes one optimizer step per window. Each step also clips the gradient: if the
global 2-norm of all gradients (every parameter together) exceeds max_norm, they are scaled down
to norm max_norm (torch.nn.utils.clip_grad_norm_ does it and returns the norm before clipping).

States are as in unroll.py: a tensor h (N, H), or a tuple (h, c) for an LSTM cell.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

State = Any  # a tensor h of shape (N, H), or a tuple (h, c) of such tensors


def hidden_of(state: State) -> torch.Tensor:
    """The output part of a state: h, or h from an LSTM's (h, c) (given: not an exercise)."""
    return state[0] if isinstance(state, tuple) else state


def detach_state(state: State) -> State:
    """The same state cut from the graph: values kept, no gradient flows back through it (given)."""
    if isinstance(state, tuple):
        return tuple(part.detach() for part in state)
    return state.detach()


def truncated_unroll(
    cell: Callable[[torch.Tensor, State], State], x: torch.Tensor, k: int, h0: State | None = None
) -> tuple[torch.Tensor, State]:
    """Unroll `cell` over x (N, T, F), detaching the state every k steps (before t = k, 2k, ...).

    cell: called as cell(x_t, state), state None at t = 0 when h0 is None.
    Returns: (outputs (N, T, H), the final state). Values equal a plain unroll's; gradients of the
    output at step t reach only x[:, ⌊t/k⌋·k : t + 1] (and the parameters).
    """
    # TODO: a plain unroll, except that at the start of each window after the first the state is detached.
    raise NotImplementedError("truncated_unroll() is not implemented yet")


def train_tbptt(
    cell: nn.Module,
    readout: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    k: int,
    optimizer: torch.optim.Optimizer,
    max_norm: float | None = None,
) -> tuple[list[float], list[float]]:
    """One pass of TBPTT training over a long sequence, one optimizer step per window of k steps.

    cell: a recurrent cell (state None at first); readout: maps h (N, H) to predictions (N, O).
    x: (N, T, F) inputs; y: (N, T, O) targets; the last window may be shorter than k.
    For each window: run the cell from the carried (detached) state, predict readout(h) at each step,
    loss = F.mse_loss over the window's predictions and targets; zero the gradients, back-propagate,
    clip the global gradient norm of cell and readout parameters to max_norm (None: no clipping), step.
    Returns: (losses, norms): each window's loss, and its global gradient norm before clipping, as floats.
    """
    # TODO: loop over windows of k steps; the state carries over (its value), detached from the last window.
    # TODO: the order within a window matters: zero_grad, backward, clip, then step.
    raise NotImplementedError("train_tbptt() is not implemented yet")
