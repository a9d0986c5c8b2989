"""Small convolutional networks: a 1×1 convolution, a residual block and a fully-convolutional classifier.

A 1×1 convolution mixes the channels of each pixel and nothing else: it is a Linear layer
applied at every pixel, with weight (out_channels, in_channels). It changes the number of channels
cheaply, and a network made only of convolutions and pooling accepts images of any size.

ResidualBlock(in_ch, out_ch, stride) computes relu(F(x) + shortcut(x)) with
    F = conv1 (3×3, stride, padding 1, no bias) -> bn1 -> ReLU -> conv2 (3×3, stride 1, padding 1, no bias) -> bn2
    shortcut = nn.Identity() when in_ch == out_ch and stride == 1, otherwise a projection
               nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)),
so that both branches have out_ch channels and the same spatial size. The convolutions have no bias
because the batch norm right after them would cancel it. With bn2's weight and bias at zero, F(x) = 0
and the block is relu(shortcut(x)): a deep stack of such blocks can start close to the identity.

FCNClassifier(in_channels, num_classes, width) is fully convolutional:
    stem   = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
    block1 = ResidualBlock(width, width, 1)
    block2 = ResidualBlock(width, 2·width, 2)
    head   = nn.Conv2d(2·width, num_classes, 1)          (a 1×1 convolution, with bias: per-pixel class scores)
then global average pooling (the mean over H and W) gives (N, num_classes) for any input size.
The attribute names are part of the contract (state_dict keys).
"""

from __future__ import annotations

import torch
from torch import nn


def conv1x1(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """A 1×1 convolution as a per-pixel linear map, without F.conv2d.

    x: (N, C_in, H, W); weight: (C_out, C_in), Linear's layout; bias: (C_out,) or None.
    Returns (N, C_out, H, W) with out[n, :, i, j] = weight @ x[n, :, i, j] + bias.
    """
    # TODO: one torch.einsum (or a matmul over the channel dim), then the bias broadcast per channel.
    raise NotImplementedError("conv1x1() is not implemented yet")


class ResidualBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); see the module docstring for the layers.

    Attributes: conv1, bn1, conv2, bn2, shortcut. x: (N, in_ch, H, W) -> (N, out_ch, H', W') with
    H' = (H - 1) // stride + 1.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        # TODO: the two 3×3 convolutions (no bias) and their batch norms.
        # TODO: the shortcut: nn.Identity() when nothing changes, else a strided 1×1 conv (no bias) and a batch norm.
        raise NotImplementedError("__init__() is not implemented yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: the residual branch, plus the shortcut, then the last ReLU (after the sum).
        raise NotImplementedError("forward() is not implemented yet")


class FCNClassifier(nn.Module):
    """stem -> block1 -> block2 -> head (1×1 conv) -> mean over H and W; see the module docstring.

    Attributes: stem, block1, block2, head. x: (N, in_channels, H, W), any H, W >= 1 -> (N, num_classes).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        # TODO: the four parts, with the attribute names of the docstring.
        raise NotImplementedError("__init__() is not implemented yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: per-pixel class scores from the head, then global average pooling over the two spatial dims.
        raise NotImplementedError("forward() is not implemented yet")
