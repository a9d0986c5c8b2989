"""Hidden tests of week 6, initialization.py: fans, Xavier-uniform and Kaiming-normal initialization.

Random weights are judged by their statistics, never by their exact random stream: on 400×300,
1000×1000 and a conv weight (64, 32, 3, 3), the sample standard deviation must be within 3% of
gain / √fan (torch.nn.init.calculate_gain and torch's own fan computation give the expected
value), the uniform bound must hold and be reached, and the shape of the distribution must be
right (about 68% of a normal's draws lie within one std, 58% of a uniform's). With 18,000 or more
draws every threshold is at least 6 standard errors away from the truth. Generators cannot
cross the transport, so probes build them from a seed.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn.init import _calculate_fan_in_and_fan_out, calculate_gain

from grader.testing import assert_close, fail

pytestmark = pytest.mark.exercise("initialization")

WEIGHT_SHAPES = [(400, 300), (1000, 1000), (64, 32, 3, 3)]


def _init(m, name, shape, kwargs, seed):
    W = torch.empty(shape)
    return getattr(m, name)(W, generator=torch.Generator().manual_seed(seed), **kwargs)


def _in_place(m, name, kwargs):
    W = torch.nn.Parameter(torch.zeros(50, 40))
    out = getattr(m, name)(W, generator=torch.Generator().manual_seed(0), **kwargs)
    return {
        "returned_W": out is W,
        "filled": bool((W.detach() != 0).any()),
        "requires_grad": W.requires_grad,
        "out_is_tensor": isinstance(out, torch.Tensor),
    }


def _generator_use(m, name, kwargs):
    saved = torch.get_rng_state()
    try:
        torch.manual_seed(123)
        a = getattr(m, name)(torch.empty(30, 20), generator=torch.Generator().manual_seed(7), **kwargs)
        global_untouched = torch.equal(torch.get_rng_state(), torch.manual_seed(123).get_state())
        torch.manual_seed(456)
        b = getattr(m, name)(torch.empty(30, 20), generator=torch.Generator().manual_seed(7), **kwargs)
        c = getattr(m, name)(torch.empty(30, 20), generator=torch.Generator().manual_seed(8), **kwargs)
    finally:
        torch.set_rng_state(saved)
    return {"a": a, "b": b, "c": c, "global_untouched": global_untouched}


def _error_of(m, name, shape, kwargs):
    try:
        getattr(m, name)(torch.empty(shape), **kwargs)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:  # noqa: BLE001 - any other error is reported by name
        return type(error).__name__
    return "no error"


def check_std(W, want_std, fan_in, fan_out, what):
    """Fail with a named mistake when the sample std of W is not within 3% of want_std."""
    if not isinstance(W, torch.Tensor) or not torch.isfinite(W).all():
        fail(f"{what}: a finite tensor was expected")
    std = W.double().std().item()
    if abs(std / want_std - 1) <= 0.03:
        return
    ratio = std / want_std
    if abs(ratio - math.sqrt(fan_in / fan_out)) < 0.03 and fan_in != fan_out:
        fail(f"{what}: std {std:.4g}, expected {want_std:.4g}: fan_in and fan_out are swapped")
    if abs(std - want_std**2) < 0.03 * want_std**2:
        fail(f"{what}: std {std:.4g}, expected {want_std:.4g}: the variance was used as the standard deviation")
    fail(f"{what}: std {std:.4g}, expected {want_std:.4g} (W is (out, in, *kernel): which dims make fan_in?)")


def fraction_within_one_std(W):
    W = W.double()
    return (W.abs() <= W.std()).double().mean().item()


# --- fans -----------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("W is (out, in, *kernel): each output unit sees in × (kernel size) inputs; each input feeds out × (kernel size) outputs.")
@pytest.mark.parametrize("shape", [(400, 300), (1, 7), (64, 32, 3, 3), (8, 3, 5)], ids=str)
def test_fan_in_and_fan_out_match_torch(student, shape):
    want = _calculate_fan_in_and_fan_out(torch.empty(shape))
    got = student.fan_in_and_fan_out(torch.empty(shape))
    if isinstance(got, (tuple, list)) and len(got) == 2 and tuple(got) == want[::-1] and want[0] != want[1]:
        fail(f"(fan_in, fan_out) = {tuple(got)} for shape {shape}, expected {want}: swapped (W is (out, in))")
    if isinstance(got, (tuple, list)) and len(shape) > 2 and tuple(got) == (shape[1], shape[0]):
        fail(f"(fan_in, fan_out) = {tuple(got)} for a conv weight {shape}, expected {want}: count the kernel positions too")
    assert_close(tuple(got) if isinstance(got, list) else got, want, what=f"(fan_in, fan_out) of shape {shape}")


@pytest.mark.points(1)
@pytest.mark.hint("A weight with fewer than 2 dims has no (out, in) to count; raise ValueError, as torch does.")
def test_fan_in_and_fan_out_reject_a_1d_tensor(student):
    raised = student.run(_error_of, "fan_in_and_fan_out", (5,), {})
    if raised != "ValueError":
        fail(f"fan_in_and_fan_out of a 1-d tensor gave {raised}, expected a ValueError")


# --- kaiming_normal_ ------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "std = gain / √fan_in with gain √2 for ReLU: a standard deviation, not a variance. torch weights are "
    "(out, in, *kernel): which dims make fan_in?"
)
@pytest.mark.parametrize("shape", WEIGHT_SHAPES, ids=str)
def test_kaiming_normal_std_is_sqrt_2_over_fan_in(student, shape):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(torch.empty(shape))
    W = student.run(_init, "kaiming_normal_", shape, {}, 1)
    check_std(W, calculate_gain("relu") / math.sqrt(fan_in), fan_in, fan_out, f"kaiming_normal_ on {shape}")
    if abs(W.double().mean().item()) > 0.05 * W.double().std().item() + 1e-12:
        fail(f"kaiming_normal_ on {shape}: mean {W.mean().item():.3g}, expected 0")
    within = fraction_within_one_std(W)
    if abs(within - 0.6827) > 0.02:
        fail(f"kaiming_normal_ on {shape}: {within:.1%} of the values lie within one std, expected 68% for a normal distribution")


@pytest.mark.points(2)
@pytest.mark.hint(
    "mode='fan_out' divides by the number of outputs each input feeds (preserving the backward pass); the gain "
    "depends on the nonlinearity: √2 for relu, 5/3 for tanh, 1 for linear."
)
@pytest.mark.parametrize(
    "kwargs",
    [{"mode": "fan_out"}, {"nonlinearity": "tanh"}, {"nonlinearity": "linear", "mode": "fan_out"}],
    ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()),
)
def test_kaiming_normal_modes_and_gains(student, kwargs):
    shape = (400, 300)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(torch.empty(shape))
    fan = fan_out if kwargs.get("mode") == "fan_out" else fan_in
    gain = calculate_gain(kwargs.get("nonlinearity", "relu"))
    W = student.run(_init, "kaiming_normal_", shape, kwargs, 2)
    what = f"kaiming_normal_({shape}, {', '.join(f'{a}={b!r}' for a, b in kwargs.items())})"
    std = W.double().std().item() if isinstance(W, torch.Tensor) else float("nan")
    if "mode" in kwargs and abs(std / (gain / math.sqrt(fan_in)) - 1) < 0.03:
        fail(f"{what}: std {std:.4g} uses fan_in; mode='fan_out' was ignored")
    if "nonlinearity" in kwargs and abs(std / (math.sqrt(2) / math.sqrt(fan)) - 1) < 0.03:
        fail(f"{what}: std {std:.4g} uses the ReLU gain √2; the nonlinearity was ignored")
    check_std(W, gain / math.sqrt(fan), fan, fan_in + fan_out - fan, what)


@pytest.mark.points(1)
@pytest.mark.hint("Check both arguments before drawing anything, and raise ValueError for a value you do not know.")
def test_kaiming_normal_rejects_unknown_mode_or_nonlinearity(student):
    for kwargs in ({"mode": "fan_avg"}, {"nonlinearity": "swish"}):
        raised = student.run(_error_of, "kaiming_normal_", (4, 3), kwargs)
        if raised != "ValueError":
            fail(f"kaiming_normal_ with {kwargs} gave {raised}, expected a ValueError")


# --- xavier_uniform_ ------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("U(-a, a) with a = gain·√(6 / (fan_in + fan_out)); its std is a/√3. Both fans count, kernel positions included.")
@pytest.mark.parametrize("shape", WEIGHT_SHAPES, ids=str)
def test_xavier_uniform_bound_and_std(student, shape):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(torch.empty(shape))
    for gain in (1.0, calculate_gain("tanh")):
        bound = gain * (6.0 / (fan_in + fan_out)) ** 0.5
        W = student.run(_init, "xavier_uniform_", shape, {"gain": gain}, 3)
        what = f"xavier_uniform_ on {shape} with gain {gain:.3g}"
        if not isinstance(W, torch.Tensor) or not torch.isfinite(W).all():
            fail(f"{what}: a finite tensor was expected")
        largest = W.abs().max().item()
        if largest > bound * (1 + 1e-6):
            fail(f"{what}: |W| reaches {largest:.4g}, above the bound {bound:.4g} (is it uniform, and is the bound right?)")
        if largest < 0.99 * bound:
            fail(f"{what}: |W| never exceeds {largest:.4g}, but the bound is {bound:.4g}: the range is too narrow")
        check_std(W, bound / math.sqrt(3), fan_in, fan_out, what)
        within = fraction_within_one_std(W)
        if abs(within - 1 / math.sqrt(3)) > 0.02:
            fail(f"{what}: {within:.1%} of the values lie within one std, expected 58% for a uniform distribution")


# --- both: in place, generator --------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.hint(
    "Fill W itself (an in-place method such as uniform_ or normal_) under torch.no_grad(), since W may be an "
    "nn.Parameter, and return W, not a new tensor."
)
@pytest.mark.parametrize("name", ["xavier_uniform_", "kaiming_normal_"])
def test_init_fills_W_in_place_and_returns_it(student, name):
    out = student.run(_in_place, name, {})
    if not out["filled"]:
        fail(f"{name} left W unchanged: fill it in place instead of building a new tensor")
    if not out["returned_W"]:
        fail(f"{name} did not return W itself (a new tensor was returned)")
    if not out["requires_grad"]:
        fail(f"{name} turned off requires_grad of the Parameter it filled")


@pytest.mark.points(1)
@pytest.mark.hint("Pass `generator` to the in-place sampling method; never draw from torch's global random state.")
@pytest.mark.parametrize("name", ["xavier_uniform_", "kaiming_normal_"])
def test_init_draws_only_from_the_generator(student, name):
    out = student.run(_generator_use, name, {})
    if not torch.equal(out["a"], out["b"]):
        fail(f"{name}: the same generator seed gave different weights, so the draws do not come from `generator` alone")
    if torch.equal(out["a"], out["c"]):
        fail(f"{name}: generator seeds 7 and 8 gave the same weights: is `generator` used?")
    if not out["global_untouched"]:
        fail(f"{name} advanced torch's global random state; draw from `generator` only")
