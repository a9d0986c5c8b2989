"""Hidden tests of week 4, activations.py: a sigmoid and a softmax that never overflow.

Every expected value is torch's own (torch.sigmoid, F.softmax, F.log_softmax), computed at test
time. The inputs are chosen where naive formulas break: |x| up to 1000 and ±inf for the sigmoid
(where the naive forward pass happens to be right but its gradient is NaN), logits up to 1e4 in
float32, rows of very different scales in one batch, logits 200 apart, and -inf entries.
Gradients cross through a probe (autograd graphs do not cross the transport).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.testing import SHAPES, assert_close, fail, is_close, rand_logits, randn

pytestmark = pytest.mark.exercise("activations")

DTYPES = [torch.float32, torch.float64]
FUNCTIONS = {"softmax": F.softmax, "log_softmax": F.log_softmax}


def sigmoid_inputs(dtype: torch.dtype) -> torch.Tensor:
    """Every integer in [-1000, 1000] (0 included), the float32 and float64 overflow edges of exp, and ±inf."""
    edges = [0.5, 1e-3, 36.7, 88.5, 89.0, 104.0, 709.5, 710.0, 745.5, math.inf]
    extra = torch.tensor(edges + [-e for e in edges], dtype=torch.float64)
    return torch.cat([torch.arange(-1000, 1001, dtype=torch.float64), extra]).to(dtype)


def first_bad(values: torch.Tensor, inputs: torch.Tensor, bad: torch.Tensor) -> str:
    """The input at the first position where `bad` holds, for a failure message."""
    index = int(torch.nonzero(bad.reshape(-1))[0])
    return f"{inputs.reshape(-1)[index].item():g}"


def _grad_of(m, name, x, kwargs, cotangent):
    x = x.clone().requires_grad_()
    out = getattr(m, name)(x, **kwargs)
    out.backward(cotangent)
    return x.grad


def _sigmoid_numpy_without_warnings(m, x):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            try:
                return {"value": m.sigmoid_numpy(x), "error": ""}
            except (FloatingPointError, RuntimeWarning) as error:
                return {"value": None, "error": f"{type(error).__name__}: {error}"}


# --- sigmoid --------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "σ(x) = 1 / (1 + e^(-x)); for x < 0 the same value can be written with e^(x), so that exp() never sees a large "
    "positive argument. Keep the input's dtype."
)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sigmoid_matches_torch_from_minus_1000_to_1000_and_at_infinity(student, dtype):
    x = sigmoid_inputs(dtype)
    got = student.sigmoid(x)
    if isinstance(got, torch.Tensor) and got.shape == x.shape and torch.isnan(got).any():
        where = first_bad(got, x, torch.isnan(got))
        fail(f"NaN at x = {where}: an exp() overflowed to inf (inf / inf and 0·inf are NaN)")
    if isinstance(got, torch.Tensor) and got.dtype != dtype:
        fail(f"a {dtype} input gave a {got.dtype} result; keep the input's dtype")
    assert_close(got, torch.sigmoid(x), mistakes={"returned σ(-x): check the sign of the exponent": torch.sigmoid(-x)})
    for shape in SHAPES:
        x = randn(*shape, seed=1, dtype=dtype, scale=30.0)
        assert_close(student.sigmoid(x), torch.sigmoid(x), what=f"sigmoid of a {tuple(shape)} input")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Autograd differentiates every operation you wrote, also both branches of a torch.where (the unselected branch "
    "gets a zero gradient, and 0·inf is NaN); and torch.abs has slope 0 at x = 0. Build σ so that no exp() ever "
    "overflows and its slope at 0 comes out right."
)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sigmoid_gradient_matches_autograd_without_nan(student, dtype):
    x = sigmoid_inputs(dtype)
    leaf = x.clone().requires_grad_()
    torch.sigmoid(leaf).sum().backward()
    got = student.run(_grad_of, "sigmoid", x, {}, torch.ones_like(x))
    if got is None:
        fail("no gradient reached the input: the computation left autograd (.item(), numpy, detach?)")
    if isinstance(got, torch.Tensor) and got.shape == x.shape:
        if torch.isnan(got).any():
            where = first_bad(got, x, torch.isnan(got))
            fail(
                f"NaN gradient at x = {where}: an exp() overflowed inside the computation "
                "(a naive 1 / (1 + e^(-x)), or a torch.where branch that is not selected)"
            )
        zero = x == 0
        if got[zero].item() == 0:
            fail("gradient 0 at x = 0 where it is 0.25: torch.abs has slope 0 at x = 0, so σ built on -|x| loses it")
    assert_close(got, leaf.grad, what="dσ/dx")


@pytest.mark.points(1)
@pytest.mark.hint(
    "NumPy warns 'overflow encountered in exp' where torch is silent, and np.where computes both of its branches on "
    "every element: make sure no exp() ever sees a large positive argument."
)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sigmoid_numpy_matches_torch_without_a_runtime_warning(student, dtype):
    x = sigmoid_inputs(dtype).numpy()
    out = student.run(_sigmoid_numpy_without_warnings, x)
    if out["error"]:
        fail(f"NumPy warned ({out['error']}): an exp() overflows; here warnings are errors")
    assert_close(out["value"], torch.sigmoid(torch.from_numpy(x)).numpy(), what="sigmoid_numpy(x)")


# --- softmax and log_softmax ------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "softmax: e^(x_i) / sum_j e^(x_j) along `dim`; log_softmax: x_i - log sum_j e^(x_j). Both keep the input's shape."
)
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_softmax_and_log_softmax_match_torch(student, name):
    for shape in SHAPES:
        x = rand_logits(*shape, seed=2)
        want = FUNCTIONS[name](x, dim=-1)
        other = {"softmax": "log_softmax", "log_softmax": "softmax"}[name]
        assert_close(
            getattr(student, name)(x),
            want,
            what=f"{name} of a {tuple(shape)} input",
            mistakes={f"matches {other}, not {name}": FUNCTIONS[other](x, dim=-1)},
        )


@pytest.mark.points(1)
@pytest.mark.hint(
    "Reduce along `dim` only (max and sum), with keepdim=True so that the result lines up with x for any dim."
)
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_softmax_and_log_softmax_along_dim_0_and_1_of_non_square_inputs(student, name):
    function = FUNCTIONS[name]
    for shape, dims in (((4, 7), (0, 1, -2)), ((3, 4, 5), (0, 1, -1))):
        x = rand_logits(*shape, seed=3)
        for dim in dims:
            mistakes = {}
            if dim % len(shape) != len(shape) - 1:
                mistakes["normalized along the last dim: the `dim` argument was ignored"] = function(x, dim=-1)
            assert_close(
                getattr(student, name)(x, dim=dim),
                function(x, dim=dim),
                what=f"{name}(x, dim={dim}) for x of shape {shape}",
                mistakes=mistakes,
            )


@pytest.mark.points(2)
@pytest.mark.hint(
    "softmax is unchanged if you subtract the same constant from every logit of a row; pick one that keeps every "
    "exp() <= 1 (exp overflows float32 above ~88.7)."
)
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_softmax_and_log_softmax_are_exact_for_float32_logits_up_to_1e4(student, name):
    x = rand_logits(6, 9, seed=4, scale=4000.0, dtype=torch.float32).clamp(-1e4, 1e4)
    x[torch.arange(6), torch.tensor([0, 3, 8, 5, 1, 7])] = 1e4  # every row peaks at 1e4
    x[2, 4] = -1e4
    x[4, 2] = 1e4 - 3.0  # a runner-up close to the top
    want = FUNCTIONS[name](x, dim=-1)
    got = getattr(student, name)(x)
    if isinstance(got, torch.Tensor) and got.shape == x.shape and not torch.isfinite(got).all():
        fail(f"non-finite output for large logits: {name} gave {got[~torch.isfinite(got)][0].item()} (exp(1e4) is inf)")
    # float32 numbers near 1e4 are 1e-3 apart: a correct x - logsumexp(x) may be off by that much
    assert_close(got, want, atol=2e-3, what=f"{name} of float32 logits up to 1e4")


@pytest.mark.points(2)
@pytest.mark.hint("Which axis should the shift be taken along? Each row needs its own maximum.")
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_softmax_and_log_softmax_shift_each_row_by_its_own_max(student, name):
    x = torch.tensor(
        [[1000.0, 0.0, -5.0, 999.0], [0.0, 1.0, 2.0, 3.0], [-1000.0, -1001.0, -999.0, -1003.0], [0.5, -0.5, 0.0, 0.25]],
        dtype=torch.float32,
    )
    want = FUNCTIONS[name](x, dim=-1)
    got = getattr(student, name)(x)
    atol = 1e-4  # float32 numbers near 1000 are 6e-5 apart
    if isinstance(got, torch.Tensor) and got.shape == x.shape and is_close(got[0], want[0], atol=atol):
        for row in range(1, len(x)):
            if not is_close(got[row], want[row], atol=atol):
                fail(
                    f"row {row} wrong while row 0 is right: the shift (the max) was taken over the whole tensor, "
                    "not per row"
                )
    assert_close(got, want, atol=atol, what=f"{name} of rows of very different scales")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Compute log-probabilities without leaving log space: e^(-200) is 0 in float32, but log_softmax there is about "
    "-200, not -inf."
)
def test_log_softmax_stays_in_log_space_200_below_the_max_in_float32(student):
    x = torch.tensor([[0.0, -200.0], [-150.0, 50.0], [3.0, -1e4]], dtype=torch.float32)
    want = F.log_softmax(x, dim=-1)
    got = student.log_softmax(x)
    if isinstance(got, torch.Tensor) and got.shape == x.shape and torch.isneginf(got).any():
        fail("-inf where a finite log-probability was expected: log(softmax(x)) underflows; stay in log space")
    assert_close(got, want)


@pytest.mark.points(1)
@pytest.mark.hint(
    "A logit of -inf means 'impossible': e^(-inf) = 0 exactly, so softmax gives exactly 0 there and log_softmax -inf. "
    "The other entries of the row share all the probability."
)
def test_minus_inf_logits_get_probability_exactly_0(student):
    x = rand_logits(4, 5, seed=5, dtype=torch.float32)
    x[0, 1] = x[1, 0] = x[1, 4] = x[3, 2] = -math.inf
    x[2] = torch.tensor([-math.inf, 80.0, -math.inf, 95.0, -math.inf])
    impossible = torch.isneginf(x)
    probs = student.softmax(x)
    if isinstance(probs, torch.Tensor) and probs.shape == x.shape and (probs[impossible] != 0).any():
        fail(
            f"softmax gave {probs[impossible][probs[impossible] != 0][0].item():g} for a logit of -inf; expected exactly 0"
        )
    assert_close(probs, F.softmax(x, dim=-1), what="softmax with -inf logits")
    assert_close(student.log_softmax(x), F.log_softmax(x, dim=-1), what="log_softmax with -inf logits")


@pytest.mark.points(1)
@pytest.mark.hint(
    "A row of all -inf has no probability to share out; the docstring asks for NaN in that whole row, like torch, "
    "and for the other rows to be unaffected."
)
def test_an_all_minus_inf_row_gives_nan_like_torch_and_leaves_other_rows_alone(student):
    x = rand_logits(3, 4, seed=6)
    x[1] = -math.inf
    for name, function in FUNCTIONS.items():
        want = function(x, dim=-1)
        got = getattr(student, name)(x)
        if isinstance(got, torch.Tensor) and got.shape == x.shape:
            if not torch.isnan(got[1]).all():
                fail(f"{name}: the all--inf row gave {got[1].tolist()}; the docstring asks for NaN, like torch")
            if torch.isnan(got[[0, 2]]).any():
                fail(f"{name}: the all--inf row 1 turned another row into NaN; rows are independent")
        assert_close(got, want, equal_nan=True, what=f"{name} with an all--inf row")


@pytest.mark.points(1)
@pytest.mark.hint(
    "Build both functions only from torch operations on x (no .item(), numpy or in-place writes) and autograd does "
    "the rest; subtracting a constant shift does not change the gradient."
)
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_softmax_and_log_softmax_gradients_match_torch(student, name):
    for shape, dim in (((6, 5), -1), ((3, 4, 5), 1)):
        x, cotangent = rand_logits(*shape, seed=7), randn(*shape, seed=8)
        leaf = x.clone().requires_grad_()
        FUNCTIONS[name](leaf, dim=dim).backward(cotangent)
        got = student.run(_grad_of, name, x, {"dim": dim}, cotangent)
        if got is None:
            fail(f"{name}: no gradient reached the input; the computation left autograd somewhere")
        assert_close(got, leaf.grad, what=f"gradient of {name}(x, dim={dim}) for x of shape {shape}")


# --- exact dtypes ---------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.hint("The result keeps the input's dtype: float32 logits give float32 probabilities, float64 give float64.")
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_and_log_softmax_keep_the_dtype_of_x(student, name):
    for dtype in (torch.float32, torch.float64):
        x = randn(4, 5, seed=61, dtype=dtype)
        got = getattr(student, name)(x, dim=-1)
        if isinstance(got, torch.Tensor) and got.dtype != x.dtype:
            fail(f"{name} returned {got.dtype} for a {x.dtype} input; keep the input's dtype")
