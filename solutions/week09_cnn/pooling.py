"""Max and average pooling, forward and backward, as F.max_pool2d and F.avg_pool2d compute them.

A k×k window slides over each channel of x (..., H, W) with a stride (by default k: windows side by
side, no overlap); `padding` cells are added on both sides of each spatial dim first. The output
has out_h = (H + 2·padding - k) // stride + 1 rows (out_w likewise): the conv output-size formula.

- Max pooling keeps the largest value of each window. Padding cells are -inf (they never win).
  Backward: only the input cell that was selected influenced the output, so the whole upstream
  gradient of a window goes to that ONE cell (its argmax; on ties, the first in row-major order,
  as torch does). With overlapping windows (stride < k) one cell can win several windows, and
  its gradients add up.
- Average pooling keeps the mean of each window. Padding cells are zeros; with
  count_include_pad=True (torch's default) they count in the divisor (always k·k), with False
  the divisor is the number of real input cells in the window. Backward: each cell of a window
  receives the window's upstream gradient divided by that divisor.

k, stride and padding are an int or a pair (h, w). padding must be at most half the kernel size.
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


def _geometry(x, k, stride, padding):
    """The pairs k, stride, padding (stride None means k), after checking padding <= k / 2."""
    # TODO: pairs for the three; torch's default stride is the kernel size; raise ValueError when the
    #       padding exceeds half the kernel (a window of padding only would have no real cell).
    ### BEGIN SOLUTION
    k = _pair(k)
    stride = k if stride is None else _pair(stride)
    padding = _pair(padding)
    if 2 * padding[0] > k[0] or 2 * padding[1] > k[1]:
        raise ValueError(f"padding {padding} should be at most half of the kernel size {k}")
    return k, stride, padding
    ### END SOLUTION


def _windows(x: torch.Tensor, k, stride, padding, fill: float) -> torch.Tensor:
    """x padded with `fill`, cut into its windows: (..., out_h, out_w, kh, kw), a strided view."""
    # TODO: pad both sides of the last two dims with `fill`, then Tensor.unfold each of them
    #       (size k, step stride): no Python loop over windows.
    ### BEGIN SOLUTION
    (kh, kw), (sh, sw), (ph, pw) = k, stride, padding
    padded = F.pad(x, (pw, pw, ph, ph), value=fill)
    return padded.unfold(-2, kh, sh).unfold(-2, kw, sw)
    ### END SOLUTION


def max_pool2d(
    x: torch.Tensor, k: int | tuple[int, int], stride: int | tuple[int, int] | None = None, padding: int = 0
) -> torch.Tensor:
    """The maximum of each window. x: (..., H, W). Returns (..., out_h, out_w)."""
    k, stride, padding = _geometry(x, k, stride, padding)
    # TODO: the max over the two window dims of _windows(x, ..., fill=-inf).
    ### BEGIN SOLUTION
    return _windows(x, k, stride, padding, float("-inf")).flatten(-2).amax(-1)
    ### END SOLUTION


def max_pool2d_backward(
    x: torch.Tensor,
    grad_out: torch.Tensor,
    k: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int = 0,
) -> torch.Tensor:
    """dloss/dx given grad_out = dloss/dout of max_pool2d(x, k, stride, padding), by hand (no autograd).

    x: (..., H, W); grad_out: (..., out_h, out_w). Returns a tensor of x's shape: each window's
    gradient goes to the one cell that won it (the first maximum in row-major order), and a cell that
    wins several overlapping windows receives the sum of their gradients.
    """
    k, stride, padding = _geometry(x, k, stride, padding)
    # TODO: the argmax of each flattened window (argmax returns the first maximum).
    # TODO: turn it into a (row, column) of the padded image: the window's top-left corner
    #       (i·stride, j·stride) plus the offset (argmax // kw, argmax % kw).
    # TODO: add grad_out into a zero image of the padded size at those positions (scatter_add_ on
    #       the flattened image, so that repeated positions accumulate), then cut the padding off.
    ### BEGIN SOLUTION
    (kh, kw), (sh, sw), (ph, pw) = k, stride, padding
    height, width = x.shape[-2], x.shape[-1]
    padded_w = width + 2 * pw
    winner = _windows(x, k, stride, padding, float("-inf")).flatten(-2).argmax(-1)
    out_h, out_w = winner.shape[-2], winner.shape[-1]
    rows = torch.arange(out_h, device=x.device).view(-1, 1) * sh + winner // kw
    cols = torch.arange(out_w, device=x.device) * sw + winner % kw
    flat = (rows * padded_w + cols).flatten(-2)
    grad = grad_out.new_zeros(*x.shape[:-2], (height + 2 * ph) * padded_w)
    grad.scatter_add_(-1, flat, grad_out.flatten(-2))
    grad = grad.view(*x.shape[:-2], height + 2 * ph, padded_w)
    return grad[..., ph : ph + height, pw : pw + width]
    ### END SOLUTION


def _divisor(x, k, stride, padding, count_include_pad):
    """How many cells each window's sum is divided by: k·k, or (…, out_h, out_w) counts of real cells."""
    # TODO: with count_include_pad the divisor is kh·kw; without it, count the real cells of each
    #       window (the windows of a ones image of x's spatial size, padded with zeros, summed).
    ### BEGIN SOLUTION
    if count_include_pad:
        return float(k[0] * k[1])
    ones = x.new_ones(x.shape[-2], x.shape[-1])
    return _windows(ones, k, stride, padding, 0.0).sum(dim=(-2, -1))
    ### END SOLUTION


def avg_pool2d(
    x: torch.Tensor,
    k: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int = 0,
    count_include_pad: bool = True,
) -> torch.Tensor:
    """The mean of each window. x: (..., H, W). Returns (..., out_h, out_w)."""
    k, stride, padding = _geometry(x, k, stride, padding)
    # TODO: sum each window of x padded with zeros, divide by _divisor(...).
    ### BEGIN SOLUTION
    sums = _windows(x, k, stride, padding, 0.0).sum(dim=(-2, -1))
    return sums / _divisor(x, k, stride, padding, count_include_pad)
    ### END SOLUTION


def avg_pool2d_backward(
    x: torch.Tensor,
    grad_out: torch.Tensor,
    k: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int = 0,
    count_include_pad: bool = True,
) -> torch.Tensor:
    """dloss/dx given grad_out = dloss/dout of avg_pool2d(x, ...), by hand (no autograd).

    x: (..., H, W); grad_out: (..., out_h, out_w). Returns a tensor of x's shape: every cell of a
    window receives the window's gradient over its divisor, summed over the windows that cover it.
    """
    k, stride, padding = _geometry(x, k, stride, padding)
    # TODO: each window's share, grad_out / divisor, copied to its kh·kw cells: F.fold adds the
    #       copies back into an image of the padded size (view the leading dims as one batch dim
    #       with one channel); then cut the padding off.
    ### BEGIN SOLUTION
    (kh, kw), (sh, sw), (ph, pw) = k, stride, padding
    height, width = x.shape[-2], x.shape[-1]
    share = grad_out / _divisor(x, k, stride, padding, count_include_pad)
    batch = share.reshape(-1, 1, share.shape[-2] * share.shape[-1])
    cols = batch.expand(-1, kh * kw, -1)
    image = F.fold(cols, (height + 2 * ph, width + 2 * pw), (kh, kw), stride=(sh, sw))
    image = image.view(*x.shape[:-2], height + 2 * ph, width + 2 * pw)
    return image[..., ph : ph + height, pw : pw + width]
    ### END SOLUTION
