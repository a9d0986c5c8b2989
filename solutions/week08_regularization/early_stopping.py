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
        ### BEGIN SOLUTION
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience = patience
        self.min_delta = min_delta
        self.mode = mode
        self.best: float | None = None
        self.num_bad_evaluations = 0
        self._best_state: dict | None = None
        ### END SOLUTION

    def step(self, metric: float, model: nn.Module) -> bool:
        """Record one evaluation's metric; save the model's weights if it improved.

        Returns True when training should stop (patience evaluations without improvement).
        """
        # TODO: the first metric is always an improvement; after that it must beat the best by
        #       more than min_delta, in the direction `mode` says.
        # TODO: save a copy of the weights that later training cannot change.
        ### BEGIN SOLUTION
        metric = float(metric)
        if self.best is None:
            improved = True
        elif self.mode == "min":
            improved = metric < self.best - self.min_delta
        else:
            improved = metric > self.best + self.min_delta
        if improved:
            self.best = metric
            self.num_bad_evaluations = 0
            self._best_state = copy.deepcopy(model.state_dict())
        else:
            self.num_bad_evaluations += 1
        return self.num_bad_evaluations >= self.patience
        ### END SOLUTION

    def restore(self, model: nn.Module) -> None:
        """Load the best weights into model. Raises RuntimeError if step() was never called."""
        # TODO: one call of an nn.Module method, after checking there is something to restore.
        ### BEGIN SOLUTION
        if self._best_state is None:
            raise RuntimeError("restore() called before any step(): there are no saved weights")
        model.load_state_dict(self._best_state)
        ### END SOLUTION
