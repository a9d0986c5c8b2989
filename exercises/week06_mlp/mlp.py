"""A multi-layer perceptron as an nn.Module, and saving and loading it.

An nn.Module finds its parameters by looking at its attributes: an nn.Parameter, an nn.Module
(whose parameters it collects recursively) or an nn.ModuleList / nn.Sequential. A plain Python
list of layers is invisible to it: `parameters()`, `state_dict()`, `.to()`, `train()` and
`eval()` would all skip those layers. A buffer (`register_buffer`) is state that is saved and
moved with the module but is not trained: here, the statistics that standardize the input.

MLP(sizes=[in, h1, ..., out]) is len(sizes) - 1 linear layers, with the activation, then dropout,
after every layer but the last (the output is raw scores):

    x -> (x - input_mean) / input_std -> Linear -> act -> dropout -> ... -> Linear -> y

The attribute names below are part of the contract: they make the state_dict keys
("layers.0.weight", "layers.0.bias", ..., "input_mean", "input_std"), so a state_dict saved by
one MLP loads into any other MLP of the same sizes.
"""

from __future__ import annotations

import os

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
"""The activations MLP accepts, by name."""


class MLP(nn.Module):
    """sizes[0] inputs -> sizes[-1] outputs through len(sizes) - 1 nn.Linear layers.

    Attributes:
        layers: the nn.Linear layers in order, in an nn.ModuleList.
        input_mean, input_std: buffers of shape (sizes[0],), zeros and ones when built; forward
            first computes (x - input_mean) / input_std.
        config: {"sizes": [...], "activation": ..., "dropout": ...}, what `load` needs to build
            the same architecture again.
    activation: a key of ACTIVATIONS. dropout: the probability of zeroing a hidden unit in
    training mode (nn.Dropout), never in eval mode.
    Raises ValueError for fewer than 2 sizes or an unknown activation.
    """

    def __init__(self, sizes: list[int], activation: str = "relu", dropout: float = 0.0) -> None:
        super().__init__()
        # TODO: validate the arguments, keep the config, build the layers so that nn.Module sees
        #       them, then register the two buffers.
        raise NotImplementedError("__init__() is not implemented yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., sizes[0]). Returns: (..., sizes[-1])."""
        raise NotImplementedError("forward() is not implemented yet")


def save(model: MLP, path: str | os.PathLike[str]) -> None:
    """Write `model` to `path` so that `load(path)` rebuilds it: its config and its state_dict.

    Save plain data only (a dict of tensors, numbers, strings and lists), never the module object
    itself: the file must load with torch.load(path, weights_only=True), which unpickles no code.
    """
    # TODO: one torch.save of a dict.
    raise NotImplementedError("save() is not implemented yet")


def load(path: str | os.PathLike[str]) -> MLP:
    """The MLP saved at `path` by `save`: same architecture, same parameters, same buffers."""
    # TODO: read with weights_only=True, build a fresh MLP from the config, load the state into it.
    raise NotImplementedError("load() is not implemented yet")
