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
    ### BEGIN SOLUTION
    return torch.where(x > 0, x, torch.zeros_like(x))
    ### END SOLUTION


def relu_backward(dout: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dL/dx of relu at x, given dout = dL/drelu(x). At x = 0 exactly, use torch's choice."""
    # TODO: the derivative is 1 where x > 0 and 0 where x < 0; what does torch give at 0?
    ### BEGIN SOLUTION
    return torch.where(x > 0, dout, torch.zeros_like(dout))
    ### END SOLUTION


def leaky_relu(x: torch.Tensor, slope: float = 0.01) -> torch.Tensor:
    """x where x > 0, slope·x elsewhere (as `F.leaky_relu(x, negative_slope=slope)`)."""
    ### BEGIN SOLUTION
    return torch.where(x > 0, x, slope * x)
    ### END SOLUTION


def leaky_relu_backward(dout: torch.Tensor, x: torch.Tensor, slope: float = 0.01) -> torch.Tensor:
    """dL/dx of leaky_relu at x. At x = 0 exactly, use torch's choice."""
    ### BEGIN SOLUTION
    return torch.where(x > 0, dout, slope * dout)
    ### END SOLUTION


def tanh(x: torch.Tensor) -> torch.Tensor:
    """The hyperbolic tangent (e^x - e^-x) / (e^x + e^-x), finite for every finite x.

    Must give ±1, never NaN, at x = ±50, ±100 or ±1000 in float32 (e^89 already overflows).
    """
    # TODO: rewrite the formula so that exp() only ever sees arguments <= 0 (tanh is odd).
    ### BEGIN SOLUTION
    e = torch.exp(-2 * x.abs())
    return torch.sign(x) * (1 - e) / (1 + e)
    ### END SOLUTION


def tanh_backward(dout: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dL/dx of tanh at x. Finite for every finite x."""
    # TODO: express tanh'(x) through tanh(x) itself.
    ### BEGIN SOLUTION
    t = tanh(x)
    return dout * (1 - t * t)
    ### END SOLUTION


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """1 / (1 + e^-x), finite and in [0, 1] for every finite x (float32 logits of ±1000 included)."""
    # TODO: as for tanh, a form in which exp() never sees a positive argument.
    ### BEGIN SOLUTION
    e = torch.exp(-x.abs())
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
    ### END SOLUTION


def sigmoid_backward(dout: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dL/dx of sigmoid at x."""
    ### BEGIN SOLUTION
    s = sigmoid(x)
    return dout * s * (1 - s)
    ### END SOLUTION


def gelu(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """GELU(x) = x·Φ(x), Φ the standard normal CDF, as `F.gelu(x, approximate=approximate)`.

    approximate="none": the exact Φ(x) = (1 + erf(x / √2)) / 2.
    approximate="tanh": Φ(x) ≈ (1 + tanh(√(2/π)·(x + 0.044715·x³))) / 2.
    The two differ by up to ~5e-4: a test can tell them apart. Raises ValueError for any other value.
    """
    # TODO: two formulas, chosen by `approximate`.
    ### BEGIN SOLUTION
    if approximate == "none":
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
        return 0.5 * x * (1 + torch.tanh(inner))
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    ### END SOLUTION


def gelu_backward(dout: torch.Tensor, x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """dL/dx of gelu(x, approximate) at x. Raises ValueError for an unknown `approximate`."""
    # TODO: product rule on x·Φ(x): the exact Φ'(x) is the normal density
    #       φ(x) = exp(-x²/2) / √(2π); for "tanh", differentiate the approximation itself.
    ### BEGIN SOLUTION
    if approximate == "none":
        cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
        pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return dout * (cdf + x * pdf)
    if approximate == "tanh":
        k = math.sqrt(2 / math.pi)
        t = torch.tanh(k * (x + 0.044715 * x**3))
        dinner = k * (1 + 3 * 0.044715 * x * x)
        return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    ### END SOLUTION


def softmax_jvp(y: torch.Tensor, v: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The Jacobian-vector product J·v of softmax along `dim`, given its output y = softmax(x, dim).

    For each slice along `dim`, J = diag(y) - y yᵀ, so J·v = y ⊙ (v - <y, v>).
    y, v: the same shape. Returns: that shape. Never build J: it is (C, C) per slice.
    """
    # TODO: one inner product per slice along `dim` (keep the dim so it broadcasts back).
    ### BEGIN SOLUTION
    return y * (v - (y * v).sum(dim, keepdim=True))
    ### END SOLUTION
