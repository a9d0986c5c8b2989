"""Early stopping: stop training when the validation metric has not improved for a while.

After every evaluation, call step(metric, model). An evaluation *improves* when the metric beats
the best so far by more than min_delta (lower is better in mode 'min', e.g. a loss; higher in
mode 'max', e.g. an accuracy). On an improvement, the model's weights are saved; otherwise a
counter of evaluations without improvement grows, and step returns True once it reaches
`patience`: training stops exactly `patience` evaluations after the last improvement.
restore(model) then loads the best weights back.

The saved weights must be a copy: model.state_dict() returns tensors that share memory with the
parameters, so an optimizer step taken after saving would silently change the "best" weights.
"""

from __future__ import annotations

import copy

from torch import nn


class EarlyStopping:
    """Track the best validation metric and the model's weights at that point.

    patience: how many evaluations without improvement to allow (>= 1).
    min_delta: an improvement must be larger than this (>= 0).
    mode: 'min' or 'max' (anything else raises ValueError).
    Attributes: best (the best metric so far, None before the first step) and
    num_bad_evaluations (evaluations since the last improvement).
    """

    def __init__(self, patience: int, min_delta: float = 0.0, mode: str = "min") -> None:
        # TODO: validate mode; set up the attributes the docstring names, and a place for the weights.
        raise NotImplementedError("__init__() is not implemented yet")

    def step(self, metric: float, model: nn.Module) -> bool:
        """Record one evaluation's metric; save the model's weights if it improved.

        Returns True when training should stop (patience evaluations without improvement).
        """
        # TODO: the first metric is always an improvement; after that it must beat the best by
        #       more than min_delta, in the direction `mode` says.
        # TODO: save a copy of the weights that later training cannot change.
        raise NotImplementedError("step() is not implemented yet")

    def restore(self, model: nn.Module) -> None:
        """Load the best weights into model. Raises RuntimeError if step() was never called."""
        # TODO: one call of an nn.Module method, after checking there is something to restore.
        raise NotImplementedError("restore() is not implemented yet")
