"""Minibatches: one epoch visits every example exactly once, in batches of a fixed size.

An epoch over n examples is an order of the indices 0..n-1, cut into consecutive slices of
batch_size; the last slice is shorter when batch_size does not divide n, and drop_last drops
it. With shuffling the order is a random permutation drawn from the generator that is passed
in, never from torch's global random state: the same seed gives the same epochs, and the
next epoch drawn from the same generator has a new order. The number of batches per epoch
(optimizer steps) is ceil(n / batch_size), or floor(n / batch_size) with drop_last.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


def minibatches(
    n: int,
    batch_size: int,
    *,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[torch.Tensor]:
    """Yield the example indices of each minibatch of one epoch over n examples.

    n: the number of examples (>= 0). batch_size: examples per batch (>= 1).
    shuffle: visit the examples in a random order (else in order 0, 1, ..., n-1).
    generator: the torch.Generator the random order is drawn from (torch's global one if None).
    drop_last: drop the last batch if it has fewer than batch_size examples.
    Yields: 1-D LongTensors of indices in [0, n): every index exactly once per epoch (except
    those of a dropped last batch), batch_size per batch but possibly fewer in the last one.
    Raises: ValueError if n < 0 or batch_size < 1.
    """
    # TODO: check the arguments and raise ValueError for a negative n or a batch_size below 1.
    # TODO: one order of 0..n-1 per epoch: a random permutation drawn from `generator` (pass it
    #       to every random call), or the indices in order when not shuffling.
    # TODO: yield consecutive slices of batch_size; where does the last full batch end when the
    #       short one is dropped?
    ### BEGIN SOLUTION
    if n < 0 or batch_size < 1:
        raise ValueError(f"need n >= 0 and batch_size >= 1, got n={n} and batch_size={batch_size}")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]
    ### END SOLUTION


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    """The number of minibatches (optimizer steps) in one epoch over n examples.

    n: the number of examples (>= 0). batch_size: examples per batch (>= 1).
    drop_last: whether a last, partial batch is dropped.
    Returns: ceil(n / batch_size), or floor(n / batch_size) with drop_last, as an int.
    Raises: ValueError if n < 0 or batch_size < 1.
    """
    # TODO: count the full batches, then decide whether a partial batch adds one more.
    #       Integer arithmetic only: float division can round the wrong way for large n.
    ### BEGIN SOLUTION
    if n < 0 or batch_size < 1:
        raise ValueError(f"need n >= 0 and batch_size >= 1, got n={n} and batch_size={batch_size}")
    return n // batch_size if drop_last else -(-n // batch_size)
    ### END SOLUTION
