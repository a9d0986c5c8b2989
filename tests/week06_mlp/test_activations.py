"""Hidden tests of week 6, activations.py: activation forward/backward pairs and softmax's JVP.

Forward passes are compared with torch.nn.functional; backward passes with autograd through the
same torch function, for a seeded upstream gradient, on a single row, odd sizes and extra
leading dims. Edge cases are the ones torch users trip on: the kink of ReLU at exactly 0 (torch
gives relu'(0) = 0 and leaky_relu'(0) = slope), the exact and tanh GELUs (which differ by up to
~5e-4), float32 inputs of ±50 to ±1000 (where a naive exp overflows) and the dtype of the result.
softmax_jvp is compared with torch.autograd.functional.jvp.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import SHAPES, assert_close, fail, randn

pytestmark = pytest.mark.exercise("activations")

SLOPE = 0.2
# name -> (student forward name, student backward name, extra kwargs, torch twin)
CASES = {
    "relu": ("relu", "relu_backward", {}, F.relu),
    "leaky_relu": ("leaky_relu", "leaky_relu_backward", {"slope": SLOPE}, lambda x: F.leaky_relu(x, SLOPE)),
    "tanh": ("tanh", "tanh_backward", {}, torch.tanh),
    "sigmoid": ("sigmoid", "sigmoid_backward", {}, torch.sigmoid),
    "gelu": ("gelu", "gelu_backward", {"approximate": "none"}, F.gelu),
    "gelu_tanh": ("gelu", "gelu_backward", {"approximate": "tanh"}, lambda x: F.gelu(x, approximate="tanh")),
}


def torch_grad(fn, x, dout):
    """dL/dx through torch's `fn` for the upstream gradient dout."""
    x = x.clone().requires_grad_()
    fn(x).backward(dout)
    return x.grad


def with_zeros(x):
    """x with every third element set to exactly 0."""
    x = x.clone()
    x.view(-1)[::3] = 0.0
    return x


# --- forward and backward against torch -----------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Each activation acts on every element on its own: relu = max(x, 0); leaky_relu = x or slope·x; "
    "tanh and sigmoid from exp; gelu = x·Φ(x)."
)
@pytest.mark.parametrize("name", list(CASES))
def test_activation_forward_matches_torch(student, name):
    forward, _, kwargs, twin = CASES[name]
    for seed, shape in enumerate(SHAPES):
        x = randn(*shape, seed=10 + seed, scale=2.0)
        assert_close(getattr(student, forward)(x, **kwargs), twin(x), what=f"{forward}{kwargs or ''} of shape {shape}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "f_backward(dout, x) = dout · f'(x), elementwise. Differentiate the formula of f; tanh' and sigmoid' are "
    "simplest written with tanh(x) and sigmoid(x) themselves."
)
@pytest.mark.parametrize("name", list(CASES))
def test_activation_backward_matches_autograd(student, name):
    _, backward, kwargs, twin = CASES[name]
    for seed, shape in enumerate(SHAPES):
        x, dout = randn(*shape, seed=20 + seed, scale=2.0), randn(*shape, seed=30 + seed)
        want = torch_grad(twin, x, dout)
        assert_close(
            getattr(student, backward)(dout, x, **kwargs),
            want,
            what=f"{backward}{kwargs or ''} of shape {shape}",
            mistakes={"the upstream gradient dout was not multiplied in": torch_grad(twin, x, torch.ones_like(dout))},
        )


# --- edge cases -----------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint("At exactly x = 0 the derivative is a choice of subgradient; pick the one torch uses (try autograd at 0).")
def test_relu_and_leaky_relu_gradients_at_zero_match_torch(student):
    x = with_zeros(randn(4, 6, seed=40))
    dout = randn(4, 6, seed=41)
    assert_close(
        student.relu_backward(dout, x),
        torch_grad(F.relu, x, dout),
        what="relu_backward with exact zeros in x",
        mistakes={"gradient at x = 0 differs from torch: relu'(0) is 0 in torch": torch.where(x >= 0, dout, 0.0)},
    )
    assert_close(
        student.leaky_relu_backward(dout, x, slope=SLOPE),
        torch_grad(lambda t: F.leaky_relu(t, SLOPE), x, dout),
        what="leaky_relu_backward with exact zeros in x",
        mistakes={
            "gradient at x = 0 differs from torch: leaky_relu'(0) is the slope in torch": torch.where(
                x >= 0, dout, SLOPE * dout
            )
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("Read the `approximate` argument: 'none' is x·Φ(x) with the exact normal CDF (erf); 'tanh' is the tanh formula.")
def test_gelu_exact_and_tanh_approximation_are_not_confused(student):
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    dout = randn(61, seed=42)
    for approximate, other in (("none", "tanh"), ("tanh", "none")):
        assert_close(
            student.gelu(x, approximate=approximate),
            F.gelu(x, approximate=approximate),
            what=f"gelu(x, approximate={approximate!r})",
            mistakes={f"close, but not the {approximate!r} GELU: it matches approximate={other!r}": F.gelu(x, approximate=other)},
        )
        assert_close(
            student.gelu_backward(dout, x, approximate=approximate),
            torch_grad(lambda t: F.gelu(t, approximate=approximate), x, dout),
            what=f"gelu_backward(dout, x, approximate={approximate!r})",
            mistakes={
                f"close, but not the gradient of the {approximate!r} GELU: it matches approximate={other!r}": torch_grad(
                    lambda t: F.gelu(t, approximate=other), x, dout
                )
            },
        )


def _gelu_error(m, approximate):
    x = torch.zeros(3)
    try:
        m.gelu(x, approximate=approximate)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:  # noqa: BLE001 - any other error is reported by name
        return type(error).__name__
    return "no error"


@pytest.mark.points(1)
@pytest.mark.hint("Only 'none' and 'tanh' are GELUs; anything else is a mistake of the caller, so raise ValueError.")
def test_gelu_rejects_an_unknown_approximation(student):
    for approximate in ("exact", "sigmoid"):
        raised = student.run(_gelu_error, approximate)
        if raised != "ValueError":
            fail(f"gelu(x, approximate={approximate!r}) gave {raised}, expected a ValueError")


@pytest.mark.points(2)
@pytest.mark.hint(
    "In float32 exp(89) is inf, and inf/inf is NaN. tanh is odd and sigmoid(-x) = 1 - sigmoid(x): "
    "rewrite each so that exp() only sees arguments <= 0."
)
@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_tanh_and_sigmoid_are_finite_at_plus_minus_50_to_1000_in_float32(student, name):
    forward, backward, _, twin = CASES[name]
    x = torch.tensor([-1000.0, -100.0, -50.0, -1.0, 0.0, 1.0, 50.0, 100.0, 1000.0], dtype=torch.float32)
    dout = torch.ones_like(x)
    got = getattr(student, forward)(x)
    if isinstance(got, torch.Tensor) and torch.isnan(got).any():
        bad = x[torch.isnan(got)].tolist()
        fail(f"{forward}: NaN at x = {bad} in float32: exp overflows to inf and inf/inf is NaN")
    assert_close(got, twin(x), what=f"{forward} in float32")
    grad = getattr(student, backward)(dout, x)
    if isinstance(grad, torch.Tensor) and not torch.isfinite(grad).all():
        bad = x[~torch.isfinite(grad)].tolist()
        fail(f"{backward}: inf or NaN at x = {bad} in float32, expected a gradient of (almost) 0")
    assert_close(grad, torch_grad(twin, x, dout), what=f"{backward} in float32")


@pytest.mark.points(1)
@pytest.mark.hint(
    "Keep x's dtype: a mask from a comparison is boolean, so let torch.where or a multiplication by dout (or x) "
    "keep the dtype, and use Python numbers for constants."
)
def test_forward_and_backward_passes_keep_float32(student):
    x, dout = with_zeros(randn(3, 4, seed=43, dtype=torch.float32)), randn(3, 4, seed=44, dtype=torch.float32)
    for name, (forward, backward, kwargs, twin) in CASES.items():
        got = getattr(student, forward)(x, **kwargs)
        if isinstance(got, torch.Tensor) and got.dtype != torch.float32:
            fail(f"{forward}{kwargs or ''}: float32 input gave dtype {got.dtype}, expected torch.float32")
        assert_close(got, twin(x), what=f"{forward}{kwargs or ''} in float32 with exact zeros")
        got = getattr(student, backward)(dout, x, **kwargs)
        if isinstance(got, torch.Tensor) and got.dtype != torch.float32:
            fail(f"{backward}{kwargs or ''}: float32 inputs gave dtype {got.dtype}, expected torch.float32")


# --- softmax_jvp ----------------------------------------------------------------------------------


def torch_softmax_jvp(x, v, dim):
    _, jvp = torch.autograd.functional.jvp(lambda t: F.softmax(t, dim=dim), x, v)
    return jvp


@pytest.mark.points(2)
@pytest.mark.hint(
    "J = diag(y) - y yᵀ per slice, so J·v = y ⊙ v - y·<y, v>: the inner product is one number per slice, "
    "kept with keepdim so it broadcasts back along `dim`."
)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_softmax_jvp_matches_autograd_functional_jvp(student, shape):
    x, v = randn(*shape, seed=50, scale=2.0), randn(*shape, seed=51)
    for dim in (-1, 0):
        y = F.softmax(x, dim=dim)
        mistakes = {"only the diagonal of the Jacobian (y ⊙ v): the -y yᵀ part is missing": y * v}
        if x.shape[dim] < x.numel():  # a tensor that is one slice along `dim` has one inner product either way
            mistakes["the inner product <y, v> was summed over the whole tensor, not per slice along `dim`"] = y * (
                v - (y * v).sum()
            )
        assert_close(
            student.softmax_jvp(y, v, dim=dim),
            torch_softmax_jvp(x, v, dim),
            what=f"softmax_jvp along dim={dim} for shape {shape}",
            mistakes=mistakes,
        )


@pytest.mark.points(1)
@pytest.mark.hint("softmax does not change when the same number is added to every logit of a slice: what is J·1?")
def test_softmax_jvp_of_a_constant_shift_is_zero(student):
    x = randn(5, 7, seed=52, scale=3.0)
    y = F.softmax(x, dim=-1)
    v = randn(5, 1, seed=53).expand(5, 7).contiguous()  # one constant per row
    assert_close(student.softmax_jvp(y, v), torch.zeros_like(y), atol=1e-12, what="J·v for v constant along each row")
