"""One-hot encoding: class labels as rows of zeros with a single 1.

A label k out of C classes becomes the vector e_k of length C: 1 at position k, 0 elsewhere.
A tensor of labels of any shape S becomes a tensor of shape S + (C,), the same as
torch.nn.functional.one_hot(labels, C). Labels outside [0, C) have no one-hot vector: they are
an error, never a silent row of zeros.
"""

from __future__ import annotations

import torch


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot encode integer class labels, like F.one_hot(labels, num_classes).

    labels: an integer tensor of any shape S (a 0-size tensor too) with values in [0, num_classes).
    num_classes: C >= 1, the length of each one-hot vector (not inferred from the labels).
    Returns: a LongTensor of shape S + (C,): out[..., k] is 1 where labels == k and 0 elsewhere.
    Raises: ValueError if a label is < 0 or >= num_classes.
    """
    # TODO: check the range of the labels first and raise ValueError naming a bad label.
    #       It must also work for an empty tensor: what is the largest of zero numbers?
    # TODO: compare every label with every class index 0..C-1 at once: broadcasting a new trailing
    #       axis of the labels against the class indices builds the whole table.
    raise NotImplementedError("one_hot() is not implemented yet")
