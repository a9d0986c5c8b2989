"""Activation functions as forward/backward pairs, the way a layer-by-layer backprop uses them.

Each `f(x)` is applied elementwise; its `f_backward(dout, x)` takes the upstream gradient
dout = dL/df(x) (the shape of x) and the forward's input x, and returns dL/dx = dout · f'(x).
Results keep x's shape and dtype. Where f has a kink (ReLU at 0), use the value torch uses, so
that your gradients and autograd's agree everywhere.

softmax is not elementwise: its Jacobian is a full matrix per row. `softmax_jvp` applies it to
a tangent vector without ever building it.

Write every function from elementary torch operations (exp, log, erf, where, ...), not from the
torch function of the same name: the point is to know what is inside, and where it overflows.
"""

from __future__ import annotations

import math

import torch


def relu(x: torch.Tensor) -> torch.Tensor:
    """max(x, 0) elementwise."""
    raise NotImplementedError("relu() is not implemented yet")


def relu_backward(dout: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dL/dx of relu at x, given dout = dL/drelu(x). At x = 0 exactly, use torch's choice."""
    # TODO: the derivative is 1 where x > 0 and 0 where x < 0; what does torch give at 0?
    raise NotImplementedError("relu_backward() is not implemented yet")


def leaky_relu(x: torch.Tensor, slope: float = 0.01) -> torch.Tensor:
    """x where x > 0, slope·x elsewhere (as `F.leaky_relu(x, negative_slope=slope)`)."""
    raise NotImplementedError("leaky_relu() is not implemented yet")


def leaky_relu_backward(dout: torch.Tensor, x: torch.Tensor, slope: float = 0.01) -> torch.Tensor:
    """dL/dx of leaky_relu at x. At x = 0 exactly, use torch's choice."""
    raise NotImplementedError("leaky_relu_backward() is not implemented yet")


def tanh(x: torch.Tensor) -> torch.Tensor:
    """The hyperbolic tangent (e^x - e^-x) / (e^x + e^-x), finite for every finite x.

    Must give ±1, never NaN, at x = ±50, ±100 or ±1000 in float32 (e^89 already overflows).
    """
    # TODO: rewrite the formula so that exp() only ever sees arguments <= 0 (tanh is odd).
    raise NotImplementedError("tanh() is not implemented yet")


def tanh_backward(dout: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dL/dx of tanh at x. Finite for every finite x."""
    # TODO: express tanh'(x) through tanh(x) itself.
    raise NotImplementedError("tanh_backward() is not implemented yet")


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """1 / (1 + e^-x), finite and in [0, 1] for every finite x (float32 logits of ±1000 included)."""
    # TODO: as for tanh, a form in which exp() never sees a positive argument.
    raise NotImplementedError("sigmoid() is not implemented yet")


def sigmoid_backward(dout: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dL/dx of sigmoid at x."""
    raise NotImplementedError("sigmoid_backward() is not implemented yet")


def gelu(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """GELU(x) = x·Φ(x), Φ the standard normal CDF, as `F.gelu(x, approximate=approximate)`.

    approximate="none": the exact Φ(x) = (1 + erf(x / √2)) / 2.
    approximate="tanh": Φ(x) ≈ (1 + tanh(√(2/π)·(x + 0.044715·x³))) / 2.
    The two differ by up to ~5e-4: a test can tell them apart. Raises ValueError for any other value.
    """
    # TODO: two formulas, chosen by `approximate`.
    raise NotImplementedError("gelu() is not implemented yet")


def gelu_backward(dout: torch.Tensor, x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """dL/dx of gelu(x, approximate) at x. Raises ValueError for an unknown `approximate`."""
    # TODO: product rule on x·Φ(x): the exact Φ'(x) is the normal density
    #       φ(x) = exp(-x²/2) / √(2π); for "tanh", differentiate the approximation itself.
    raise NotImplementedError("gelu_backward() is not implemented yet")


def softmax_jvp(y: torch.Tensor, v: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The Jacobian-vector product J·v of softmax along `dim`, given its output y = softmax(x, dim).

    For each slice along `dim`, J = diag(y) - y yᵀ, so J·v = y ⊙ (v - <y, v>).
    y, v: the same shape. Returns: that shape. Never build J: it is (C, C) per slice.
    """
    # TODO: one inner product per slice along `dim` (keep the dim so it broadcasts back).
    raise NotImplementedError("softmax_jvp() is not implemented yet")
