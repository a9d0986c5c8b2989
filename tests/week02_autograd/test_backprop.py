"""Hidden tests of week 2, backprop.py: the two-layer tanh network's loss and its gradients by hand.

Every expected gradient is torch.autograd's on the same network, built at test time with
F.mse_loss, at batch sizes 1 and 17 and with an extra leading dim, in float64 (and once in
float32). The classic mistakes are named through `mistakes=`: their values come from `by_hand`,
a hand-written backward pass with the mistake switched on.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("backprop")

D, H, K = 3, 5, 2  # input, hidden and output sizes: all different, so a transposed matrix shows
PARAMETERS = ("W1", "b1", "W2", "b2")
BATCHES = [(1,), (17,), (3, 5)]


def network(*batch: int, seed: int, scale: float = 1.0, dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """Inputs, parameters and targets of the network for inputs of shape batch + (D,)."""
    return {
        "x": randn(*batch, D, seed=seed, dtype=dtype),
        "W1": randn(D, H, seed=seed + 1, dtype=dtype, scale=scale),
        "b1": randn(H, seed=seed + 2, dtype=dtype),
        "W2": randn(H, K, seed=seed + 3, dtype=dtype),
        "b2": randn(K, seed=seed + 4, dtype=dtype),
        "y": randn(*batch, K, seed=seed + 5, dtype=dtype),
    }


def arguments(net: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return tuple(net[name] for name in ("x", "W1", "b1", "W2", "b2", "y"))


def loss_by_torch(x, W1, b1, W2, b2, y):
    return F.mse_loss(torch.tanh(x @ W1 + b1) @ W2 + b2, y)


def autograd_gradients(net: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torch.autograd's gradients of the mean-squared loss with respect to the four parameters."""
    params = {name: net[name].clone().requires_grad_() for name in PARAMETERS}
    loss = loss_by_torch(net["x"], params["W1"], params["b1"], params["W2"], params["b2"], net["y"])
    grads = torch.autograd.grad(loss, list(params.values()))
    return dict(zip(PARAMETERS, grads, strict=True))


def by_hand(net: dict[str, torch.Tensor], *, scale: float = 2.0, tanh_grad: str = "1 - h²", bias: str = "sum"):
    """A hand-written backward pass in which one classic mistake can be switched on, for `mistakes=`.

    scale: dL/dp = scale·(p - y); the right one is 2 / (number of entries of p).
    tanh_grad: "1 - h²" (right), "1 - h" or "1 - z²". bias: "sum" (right) or "mean" over the rows.
    """
    x = net["x"].reshape(-1, D)
    z = x @ net["W1"] + net["b1"]
    h = torch.tanh(z)
    pred = h @ net["W2"] + net["b2"]
    dpred = scale * (pred - net["y"].reshape(pred.shape))
    dh = dpred @ net["W2"].T
    local = {"1 - h²": 1 - h**2, "1 - h": 1 - h, "1 - z²": 1 - z**2}[tanh_grad]
    dz = dh * local
    reduce = (lambda t: t.sum(0)) if bias == "sum" else (lambda t: t.mean(0))
    return {"W1": x.T @ dz, "b1": reduce(dz), "W2": h.T @ dpred, "b2": reduce(dpred)}


def _backward_without_autograd(m, args):
    with torch.no_grad():
        try:
            return m.two_layer_backward(*args)
        except NotImplementedError:
            raise
        except RuntimeError as error:
            return f"RuntimeError: {error}".splitlines()[0]


# --- the forward pass ---------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Hidden layer tanh(x @ W1 + b1), output layer h @ W2 + b2, then the mean of the squared errors over "
    "every entry of the predictions (as F.mse_loss)."
)
def test_two_layer_loss_matches_F_mse_loss(student):
    # A batch of one last: there a sum over every entry and a sum over the outputs are one number,
    # so the batches of several rows name the mistake first.
    for batch in sorted(BATCHES, key=lambda shape: shape == (1,)):
        net = network(*batch, seed=1)
        want = loss_by_torch(*arguments(net))
        entries = net["y"].numel()
        assert_close(
            student.two_layer_loss(*arguments(net)),
            want,
            what=f"loss for x of shape {tuple(net['x'].shape)}",
            mistakes={
                "sum instead of mean: the loss grows with the batch": want * entries,
                "mean over rows of a sum over outputs: F.mse_loss averages over every entry": want * K,
            }
            if entries != K
            else {  # one row: a sum over every entry and a sum over the outputs are the same number
                "the squared errors were summed over the outputs: F.mse_loss averages over every entry": want * K,
            },
        )


# --- the backward pass --------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "Go backwards one layer at a time: dL/dp, then dL/dW2 and dL/db2, then dL/dh, dL/dz through tanh, and "
    "dL/dW1 and dL/db1. Check each step's shape against the tensor it is the gradient of."
)
@pytest.mark.parametrize("batch", BATCHES, ids=["batch1", "batch17", "batch3x5"])
def test_two_layer_backward_matches_autograd(student, batch):
    net = network(*batch, seed=2)
    got = student.two_layer_backward(*arguments(net))
    assert_close(got, autograd_gradients(net), what="gradients")


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "A bias is added to every row (of every leading dim), so every row sends it gradient: collect them all. "
    "The 1/N of the mean is already inside dL/dp."
)
def test_bias_gradients_are_summed_over_every_row(student):
    for batch in [(17,), (3, 5)]:
        net = network(*batch, seed=3)
        got = student.two_layer_backward(*arguments(net))
        if not isinstance(got, dict) or not set(PARAMETERS) <= set(got):
            fail(f"a dict with keys {', '.join(PARAMETERS)} was expected, got {type(got).__name__}")
        for name in ("b1", "b2"):
            shape = tuple(getattr(got[name], "shape", ()))
            want_shape = tuple(net[name].shape)
            if shape != want_shape and shape[-1:] == want_shape:
                fail(
                    f"d{name} has shape {shape}, expected {want_shape}: the bias gradient was not summed over "
                    f"the batch (x has shape {tuple(net['x'].shape)})"
                )
        want = autograd_gradients(net)
        averaged = by_hand(net, scale=2.0 / net["y"].numel(), bias="mean")
        for name in ("b1", "b2"):
            assert_close(
                got[name],
                want[name],
                what=f"d{name} for x of shape {tuple(net['x'].shape)}",
                mistakes={
                    f"d{name} averaged over the rows instead of summed: the 1/N is already in dL/dp": averaged[name]
                },
            )


@pytest.mark.points(1)
@pytest.mark.hint(
    "Each gradient has the shape of its parameter. For out = inp @ W, dL/dW pairs every input feature with "
    "every output unit: which of inp^T @ dL/dout and dL/dout^T @ inp has W's shape?"
)
def test_gradients_have_the_shapes_of_the_parameters(student):
    net = network(17, seed=4)
    got = student.two_layer_backward(*arguments(net))
    if not isinstance(got, dict):
        fail(f"a dict of gradients was expected, got {type(got).__name__}")
    missing = [name for name in PARAMETERS if name not in got]
    if missing:
        fail(f"missing key(s) {', '.join(map(repr, missing))}: the dict maps each parameter's name to its gradient")
    for name in PARAMETERS:
        shape, want = tuple(getattr(got[name], "shape", ())), tuple(net[name].shape)
        if shape != want:
            transposed = " (transposed)" if shape == want[::-1] else ""
            fail(f"d{name} has shape {shape}{transposed}, expected {want}: each gradient has its parameter's shape")


@pytest.mark.points(2)
@pytest.mark.hint(
    "L = (1/M)·Σ(p - y)² over all M = N·K entries, so dL/dp = (2/M)·(p - y): both the 2 and the 1/M, "
    "with M counting every entry, not just the rows."
)
def test_loss_gradient_has_the_factor_2_over_the_number_of_entries(student):
    net = network(17, seed=5)
    entries = net["y"].numel()
    got = student.two_layer_backward(*arguments(net))
    assert_close(
        got,
        autograd_gradients(net),
        what="gradients",
        mistakes={
            "gradients N·K times too large: the 1/N·K of the mean is missing": by_hand(net, scale=2.0),
            "gradients half as large: the factor 2 of d(p - y)²/dp is missing": by_hand(net, scale=1.0 / entries),
            "gradients K times too large: divided by the number of rows, not of entries": by_hand(
                net, scale=2.0 / len(net["x"])
            ),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "d tanh(z)/dz = 1 - tanh(z)²: write it with h = tanh(z), which the forward pass already computed, not with z."
)
def test_hidden_layer_gradient_uses_the_tanh_derivative(student):
    net = network(17, seed=6, scale=2.0)  # large pre-activations: tanh saturates, and the mistakes differ widely
    got = student.two_layer_backward(*arguments(net))
    want = autograd_gradients(net)
    scale = 2.0 / net["y"].numel()
    for name in ("W1", "b1"):
        assert_close(
            got[name],
            want[name],
            what=f"d{name}",
            mistakes={
                "tanh'(z) written as 1 - tanh(z); it is 1 - tanh(z)²": by_hand(net, scale=scale, tanh_grad="1 - h")[
                    name
                ],
                "tanh'(z) written as 1 - z²: square tanh(z), not the pre-activation z": by_hand(
                    net, scale=scale, tanh_grad="1 - z²"
                )[name],
            },
        )


@pytest.mark.points(1)
@pytest.mark.hint(
    "Backpropagation by hand needs only tensor arithmetic: no requires_grad, .backward() or torch.autograd."
)
def test_two_layer_backward_works_without_autograd(student):
    net = network(17, seed=7)
    got = student.run(_backward_without_autograd, arguments(net))
    if isinstance(got, str):
        fail(f"under torch.no_grad() two_layer_backward raised {got}: compute the gradients by hand")
    assert_close(got, autograd_gradients(net), what="gradients under torch.no_grad()")


@pytest.mark.points(1)
@pytest.mark.hint("Use only operations on the given tensors so that the result keeps their dtype.")
def test_float32_inputs_give_float32_gradients(student):
    net = network(17, seed=8, dtype=torch.float32)
    assert_close(student.two_layer_backward(*arguments(net)), autograd_gradients(net), what="float32 gradients")
