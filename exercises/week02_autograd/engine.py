"""A scalar reverse-mode automatic differentiation engine, in the style of micrograd.

Every operation on Values creates a new Value that remembers its inputs (`_prev`) and a closure
(`_backward`) that knows the operation's local derivatives. The graph of a computation is built as
a side effect of computing it. `backward()` on the final Value then applies the chain rule
backwards: it seeds d(out)/d(out) = 1 and visits the nodes in reverse topological order, so that a
node's `_backward` runs only once every node that consumes it has added its share to its grad.
Each `_backward` ADDS out.grad × ∂out/∂input into each input's grad: a Value used in several places
(b = a + a, or a weight shared by two terms) receives gradient from all of them.

    a, b = Value(2.0), Value(-3.0)
    c = (a * b + 1).tanh()
    c.backward()          # a.grad = dc/da, b.grad = dc/db
"""

from __future__ import annotations

import math  # noqa: F401 - used by exp() and tanh() (unused only in the stubs)
from collections.abc import Callable


class Value:
    """A scalar that remembers how it was computed, so that gradients can flow back through it.

    data: the number (stored as a float). grad: d(output)/d(this Value) after output.backward();
    gradients accumulate, so call output.zero_grad() before another backward pass.
    Numbers mix with Values on either side: 2 * x, 1 - x, x / 3, x ** 2.
    """

    def __init__(self, data: float, _children: tuple[Value, ...] = (), _op: str = "") -> None:
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_children)  # the Values this one was computed from (the same Value may appear twice)
        self._op = _op  # the operation that produced it, for printing
        self._backward: Callable[[], None] = lambda: None  # adds out.grad × local derivative into each input's grad

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    # --- operations: each builds its output and the closure that sends gradient back to its inputs ---

    def __add__(self, other: Value | float) -> Value:
        """self + other, as a new Value with both as inputs."""
        other = other if isinstance(other, Value) else Value(other)
        # TODO: build the output Value from the sum, with (self, other) as its children.
        # TODO: define its _backward: d(a + b)/da = d(a + b)/db = 1, times out.grad, ADDED to each
        #       input's grad (self and other may be the same Value: a + a).
        raise NotImplementedError("__add__() is not implemented yet")

    def __mul__(self, other: Value | float) -> Value:
        """self * other, as a new Value with both as inputs."""
        other = other if isinstance(other, Value) else Value(other)
        # TODO: as __add__, with the local derivatives of a product: d(a·b)/da = b and d(a·b)/db = a.
        raise NotImplementedError("__mul__() is not implemented yet")

    def __pow__(self, exponent: float) -> Value:
        """self ** exponent for a number exponent (int or float), as a new Value with self as input."""
        if not isinstance(exponent, (int, float)):
            raise TypeError("Value ** exponent supports a number exponent only (int or float)")
        # TODO: the power rule: d(a^n)/da = n·a^(n-1).
        raise NotImplementedError("__pow__() is not implemented yet")

    def exp(self) -> Value:
        """e ** self, as a new Value."""
        # TODO: the number is math.exp(a); the derivative of exp is exp itself, and out.data holds it.
        raise NotImplementedError("exp() is not implemented yet")

    def tanh(self) -> Value:
        """The hyperbolic tangent of self, as a new Value."""
        # TODO: the number is math.tanh(a); write its derivative in terms of t = tanh(a)
        #       (differentiate sinh/cosh once).
        raise NotImplementedError("tanh() is not implemented yet")

    def relu(self) -> Value:
        """max(self, 0), as a new Value. Its derivative at exactly 0 is taken to be 0, as in torch."""
        # TODO: the derivative is 1 where the input is positive and 0 elsewhere, at 0 included.
        raise NotImplementedError("relu() is not implemented yet")

    # --- the rest of the arithmetic, written with the operations above ---

    def __neg__(self) -> Value:
        """-self."""
        # TODO: reuse an operation above rather than writing a new _backward.
        raise NotImplementedError("__neg__() is not implemented yet")

    def __sub__(self, other: Value | float) -> Value:
        """self - other."""
        # TODO: a - b = a + (-b).
        raise NotImplementedError("__sub__() is not implemented yet")

    def __truediv__(self, other: Value | float) -> Value:
        """self / other."""
        other = other if isinstance(other, Value) else Value(other)
        # TODO: a / b = a · b^(-1).
        raise NotImplementedError("__truediv__() is not implemented yet")

    def __radd__(self, other: float) -> Value:
        """other + self, for a number on the left (Python calls it after float.__add__ gives up)."""
        # TODO: addition commutes.
        raise NotImplementedError("__radd__() is not implemented yet")

    def __rsub__(self, other: float) -> Value:
        """other - self, for a number on the left: 1 - x."""
        # TODO: careful with the order: other - self is not self - other.
        raise NotImplementedError("__rsub__() is not implemented yet")

    def __rmul__(self, other: float) -> Value:
        """other * self, for a number on the left: 2 * x."""
        # TODO: multiplication commutes.
        raise NotImplementedError("__rmul__() is not implemented yet")

    def __rtruediv__(self, other: float) -> Value:
        """other / self, for a number on the left: 1 / x."""
        # TODO: other / self = other · self^(-1).
        raise NotImplementedError("__rtruediv__() is not implemented yet")

    # --- the backward pass ---

    def topological_order(self) -> list[Value]:
        """Every Value this one depends on, itself included, each listed once, inputs before outputs.

        Returns: a list whose last element is self, in which every node comes after all of its
        children (`_prev`). Works without recursion, so a chain of 5,000 operations is fine.
        """
        # TODO: a depth-first search that appends a node only after all of its children have been
        #       appended, and remembers what it has visited (a shared node is listed once).
        # TODO: Python's recursion stops at ~1,000 nested calls: keep your own stack of nodes to visit
        #       (for example pairs (node, children_done)) instead of a recursive helper.
        raise NotImplementedError("topological_order() is not implemented yet")

    def backward(self) -> None:
        """Fill .grad of every Value this one depends on with d(self)/d(that Value).

        Gradients are added to what .grad already holds: call zero_grad() between two passes.
        """
        # TODO: d(self)/d(self) = 1. Then run each node's _backward, outputs first: a node must have
        #       received the gradient from ALL of its consumers before it passes its own grad on.
        raise NotImplementedError("backward() is not implemented yet")

    def zero_grad(self) -> None:
        """Set .grad to 0 on this Value and on every Value it depends on."""
        # TODO: every node of the graph, intermediate ones too: their grads are sums as well.
        raise NotImplementedError("zero_grad() is not implemented yet")
