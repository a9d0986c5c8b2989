"""Padded batches of sequences: masks, a loss over real tokens only, and the last real output.

A batch of N sequences of different lengths is padded to a common length T. `lengths` (a
LongTensor of shape (N,), in any order) says how many steps of each row are real; everything at
t >= lengths[n] is padding, whatever it contains, and must not change a loss or its gradients.
Used for tagging (one label per token: part of speech, named entities) and for classifying a
sequence from the output at its last real step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sequence_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """Which positions are real. lengths: LongTensor (N,). Returns: BoolTensor (N, T), True where t < lengths[n]."""
    # TODO: compare a row of time indices 0..T-1 with each length (broadcasting, no loop).
    raise NotImplementedError("sequence_mask() is not implemented yet")


def masked_token_ce(logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over the real tokens of a padded batch.

    logits: (N, T, C) scores; targets: LongTensor (N, T) of classes in [0, C) (any value where padded);
    lengths: LongTensor (N,). Returns: a 0-d tensor, the mean over every real token of the batch
    (as F.cross_entropy with ignore_index on targets whose padding holds that index).
    """
    # TODO: the per-token losses (F.cross_entropy wants the classes in dim 1), padding replaced or ignored.
    # TODO: average over the real tokens only: every real token of the batch counts the same.
    raise NotImplementedError("masked_token_ce() is not implemented yet")


def last_valid(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The output at each sequence's last real step, t = lengths[n] - 1.

    outputs: (N, T, H); lengths: LongTensor (N,) in [1, T], in any order.
    Returns: (N, H). Raises ValueError if a length is below 1 or above T.
    """
    # TODO: check the lengths, then pick one time step per row (advanced indexing or gather).
    raise NotImplementedError("last_valid() is not implemented yet")
