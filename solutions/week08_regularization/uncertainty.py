"""★ Monte Carlo dropout: a predictive mean and variance from a network trained with dropout.

Gal and Ghahramani (2016) read a dropout network as an approximate Bayesian model: keep dropout
switched on at test time, run the same input through the network T times (each pass drops a
different random set of units), and use the T outputs as samples from the predictive
distribution. Their mean is the prediction; their variance says how unsure the model is.

Only the dropout layers are switched to training mode: every other layer (batch norm above all)
must keep behaving as in evaluation, and the model is left in the mode it was in before.
"""

from __future__ import annotations

import torch
from torch import nn


def mc_dropout_predict(model: nn.Module, x: torch.Tensor, num_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictive mean and variance of `model` at `x` over `num_samples` passes with dropout on.

    model: any nn.Module; its nn.Dropout layers (and only those) are active during the passes.
    x: the model's input. num_samples: T >= 1 stochastic forward passes.
    Returns (mean, var), each of the shape of model(x): the mean over the T outputs and their
    variance with the 1/T normalization (the spread of the samples themselves; T = 1 gives 0).
    No gradients are recorded, and every module's `training` flag is as it was on entry.
    """
    # TODO: remember each module's mode; put the model in eval mode, then switch only the
    #       dropout layers (isinstance(module, nn.Dropout)) back to training.
    # TODO: stack T outputs without recording gradients, take their mean and 1/T variance.
    # TODO: restore every module's mode before returning (even the dropout layers').
    ### BEGIN SOLUTION
    modes = {module: module.training for module in model.modules()}
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.train()
    try:
        with torch.no_grad():
            samples = torch.stack([model(x) for _ in range(num_samples)])
    finally:
        for module, mode in modes.items():
            module.training = mode
    return samples.mean(0), samples.var(0, unbiased=False)
    ### END SOLUTION
