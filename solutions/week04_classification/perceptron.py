"""The perceptron: a linear classifier that learns only from its mistakes.

The labels are -1 and +1, and a sample (x, y) is classified correctly when y·(w·x + b) > 0. The
perceptron looks at the samples one at a time, in a fixed order, and whenever one is on the
wrong side of the boundary (or on the boundary itself), it moves the boundary towards it:
w ← w + y·x, b ← b + y. On linearly separable data this stops after finitely many updates
(Novikoff's theorem), with every training sample on the right side.
"""

from __future__ import annotations

import torch


def perceptron(X: torch.Tensor, y: torch.Tensor, epochs: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Train a perceptron, starting from w = 0 and b = 0, for at most `epochs` passes over the data.

    X: (N, D) inputs. y: (N,) labels in {-1, +1} (integer or floating).
    Each epoch visits the samples in their order in X (0, 1, ..., N - 1; no shuffling). A sample
    is a mistake when y·(w·x + b) <= 0: a sample exactly on the boundary counts as a mistake
    (at the start, every sample is on the boundary w = 0, b = 0). Only mistakes update the
    weights: w ← w + y·x, b ← b + y (learning rate 1). Training may stop early after an epoch
    without mistakes (nothing would change afterwards).
    Returns (w, b, updates): w (D,) and a 0-d b, both of X's dtype, and the number of updates
    made (an int).
    """
    # TODO: start from zeros, and loop over the epochs and, inside, over the samples in order.
    # TODO: test y·(w·x + b) <= 0 for each sample; update and count only when it holds.
    ### BEGIN SOLUTION
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    b = torch.zeros((), dtype=X.dtype)
    updates = 0
    for _ in range(epochs):
        mistakes = 0
        for x_i, y_i in zip(X, y.to(X.dtype), strict=True):
            if y_i * (x_i @ w + b) <= 0:
                w = w + y_i * x_i
                b = b + y_i
                updates += 1
                mistakes += 1
        if mistakes == 0:
            break
    return w, b, updates
    ### END SOLUTION
