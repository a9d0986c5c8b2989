"""2-d convolution from scratch: the output size, the forward pass with unfold, and the backward pass.

What deep learning calls a convolution is a cross-correlation: the kernel is slid over the input
and NOT flipped. For an input x of shape (N, C, H, W) and a weight w of shape (O, C // groups, kh, kw),

    out[n, o, i, j] = b[o] + sum_{c, a, e} w[o, c, a, e] · xp[n, g·C/G + c, i·s_h + a·d_h, j·s_w + e·d_w]

where xp is x with `padding` zeros added on BOTH sides of each spatial dim, s is the stride, d the
dilation (the gap between kernel taps; d = 1 is an ordinary kernel) and g = o // (O / groups) is
the group of output channel o: with G groups, the input channels are split into G equal slices and
output channel o only sees the slice of its group (groups = C is a depthwise convolution).

Fast implementations never loop over output pixels in Python. `F.unfold` (im2col) copies every
receptive field into a column: (N, C, H, W) -> (N, C·kh·kw, L), with L = out_h · out_w, ordered
channel-major then kernel row then kernel column, which is exactly the order of w.view(O, -1). A
convolution is then one batched matrix product. `F.fold` is unfold's adjoint: it sums columns back
into an image, adding up the overlaps, which is what the gradient with respect to x needs.

stride, padding and dilation are an int (the same for both spatial dims) or a pair (h, w), as in
F.conv2d.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """(value, value) for an int, the pair itself for a pair."""
    if isinstance(value, int):
        return value, value
    first, second = value
    return int(first), int(second)


def conv_out_size(h: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """How many positions a kernel of size k takes along a dim of size h.

    padding is added on both sides; a dilated kernel spans dilation·(k - 1) + 1 input cells.
    Returns a Python int. Raises ValueError when not even one position fits (the result would be < 1).
    """
    # TODO: the padded length, minus the span of the dilated kernel, divided by the stride,
    #       rounded down (a last partial step does not give a position), plus the first position.
    raise NotImplementedError("conv_out_size() is not implemented yet")


def conv2d(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> torch.Tensor:
    """The cross-correlation F.conv2d computes, vectorised (no Python loop over pixels or channels).

    x: (N, C, H, W); w: (O, C // groups, kh, kw); b: (O,) or None.
    Returns (N, O, out_h, out_w) with out_h = conv_out_size(H, kh, ...), out_w likewise.
    Raises ValueError when C or O is not divisible by groups, or C != groups · w.shape[1].
    Built from differentiable torch operations, so autograd gives its gradients.
    """
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    # TODO: check the channel counts against groups.
    # TODO: unfold x into columns (F.unfold takes kernel_size, dilation, padding and stride).
    # TODO: view the columns as (N, groups, C/groups·kh·kw, L) and the weight as (groups, O/groups, C/groups·kh·kw),
    #       multiply group by group (a broadcasting torch.matmul), then reshape the result to (N, O, out_h, out_w).
    raise NotImplementedError("conv2d() is not implemented yet")


def conv2d_backward(
    x: torch.Tensor,
    w: torch.Tensor,
    grad_out: torch.Tensor,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The gradients of a loss with respect to x, w and b, given grad_out = dloss/dout, by hand.

    x: (N, C, H, W); w: (O, C // groups, kh, kw); grad_out: (N, O, out_h, out_w).
    Returns (grad_x, grad_w, grad_b) of the shapes of x, w and (O,). No autograd: the forward is a
    matrix product per group, out_g = w_g @ cols_g, so grad_w_g = sum over n of grad_out_g @ cols_gᵀ
    and grad_cols_g = w_gᵀ @ grad_out_g, which F.fold sums back into the image.
    """
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    # TODO: grad_b sums grad_out over every dim but the channel dim.
    # TODO: grad_w: unfold x as in the forward pass, then one product per group, summed over the batch.
    # TODO: grad_x: the columns' gradient, folded back (F.fold with the forward's kernel, dilation,
    #       padding and stride, output_size=(H, W)): overlapping receptive fields add up.
    raise NotImplementedError("conv2d_backward() is not implemented yet")
