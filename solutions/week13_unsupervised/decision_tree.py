"""Impurity and the best split of a decision tree on one feature.

A node holding labels y is impure when it mixes classes. With p_c the fraction of class c:

    gini(y) = 1 − Σ_c p_c²              entropy_impurity(y) = −Σ_c p_c log p_c   (natural log)

Both are 0 for a pure node. A split "x <= t" sends the rows with x <= t left and the others right;
its gain is the parent's impurity minus the children's impurities weighted by their sizes,

    gain = I(y) − (n_left / n) I(y_left) − (n_right / n) I(y_right).

The candidate thresholds are the midpoints between consecutive distinct values of x in sorted
order: any other threshold gives one of the same partitions. The best split has the largest gain;
ties go to the lowest threshold. A constant feature has no candidate: no split.
"""

from __future__ import annotations

import torch


def _class_fractions(y: torch.Tensor) -> torch.Tensor:
    """The fraction of each class present in y (a 1-d integer tensor), as float64."""
    # TODO: count each label (torch.unique with return_counts=True) and divide by n.
    ### BEGIN SOLUTION
    _, counts = torch.unique(y, return_counts=True)
    return counts.double() / y.numel()
    ### END SOLUTION


def gini(y: torch.Tensor) -> float:
    """Gini impurity 1 − Σ_c p_c² of the labels y ((n,) integers, n >= 1), as a float."""
    # TODO: the class fractions, then the formula.
    ### BEGIN SOLUTION
    p = _class_fractions(y)
    return float(1.0 - (p**2).sum())
    ### END SOLUTION


def entropy_impurity(y: torch.Tensor) -> float:
    """Entropy −Σ_c p_c log p_c of the labels y ((n,) integers, n >= 1), in nats, as a float."""
    # TODO: class fractions, then the formula (classes that do not occur contribute nothing).
    ### BEGIN SOLUTION
    p = _class_fractions(y)
    return float(-(p * p.log()).sum())
    ### END SOLUTION


def best_split(x: torch.Tensor, y: torch.Tensor, criterion: str = "gini") -> tuple[float | None, float]:
    """The best threshold for "x <= t" and its gain. Returns (threshold, gain).

    x: (n,) feature values; y: (n,) integer labels; criterion: "gini" or "entropy" (anything else
    raises ValueError). threshold: a midpoint between consecutive distinct sorted values of x, the
    one of largest gain, the lowest on a tie. A constant x gives (None, 0.0).
    """
    # TODO: pick the impurity; candidate thresholds are midpoints of the sorted distinct values.
    # TODO: for each one, gain = parent impurity − size-weighted child impurities; keep the best.
    ### BEGIN SOLUTION
    impurities = {"gini": gini, "entropy": entropy_impurity}
    if criterion not in impurities:
        raise ValueError(f"best_split: criterion must be 'gini' or 'entropy', got {criterion!r}")
    impurity = impurities[criterion]
    values = torch.unique(x)  # sorted
    parent = impurity(y)
    n = y.numel()
    best_threshold, best_gain = None, 0.0
    for threshold in ((values[:-1] + values[1:]) / 2).tolist():
        left = x <= threshold
        n_left = int(left.sum())
        children = (n_left / n) * impurity(y[left]) + ((n - n_left) / n) * impurity(y[~left])
        gain = parent - children
        if best_threshold is None or gain > best_gain + 1e-12:
            best_threshold, best_gain = threshold, gain
    return best_threshold, best_gain
    ### END SOLUTION
