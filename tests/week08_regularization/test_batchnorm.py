"""Hidden tests of week 8, batchnorm.py: BatchNorm against nn.BatchNorm1d / nn.BatchNorm2d.

One probe trains a batch norm layer for 5 steps (forward, backward of a seeded upstream gradient),
then switches it to eval and normalizes a new batch. The same probe runs on the learner's
BatchNorm and, in the test, on torch's nn.BatchNorm1d / nn.BatchNorm2d, and everything is
compared: the 5 training outputs, the running statistics, the eval output, and the gradients of
x, γ (weight) and β (bias). Each classic mistake (the unbiased variance to normalize, the biased
one for running_var, CS231n's inverted momentum, running_var starting at 0, the wrong dims for
4-d input, batch statistics in eval) is recomputed by hand so the failure can name it.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("batchnorm")

STEPS = 5
CASES = {  # name: (input shape, torch's twin)
    "(7, 5)": ((7, 5), "BatchNorm1d"),
    "(1, 3, 4, 5)": ((1, 3, 4, 5), "BatchNorm2d"),
    "(6, 2, 3, 5)": ((6, 2, 3, 5), "BatchNorm2d"),
    "(4, 3, 6)": ((4, 3, 6), "BatchNorm1d"),
}


def _train_then_eval(m, cls_name, channels, xs, upstreams, x_eval, weight, bias, options):
    bn = getattr(m, cls_name)(channels, **options).double()
    affine = options.get("affine", True)
    if affine:
        with torch.no_grad():
            bn.weight.copy_(weight)
            bn.bias.copy_(bias)
    bn.train()
    result = {"out": [], "grad_x": [], "grad_weight": [], "grad_bias": [], "running_mean": [], "running_var": []}
    for x, upstream in zip(xs, upstreams):
        bn.zero_grad()
        x = x.clone().requires_grad_()
        out = bn(x)
        out.backward(upstream)
        result["out"].append(out.detach())
        result["grad_x"].append(x.grad)
        if affine:
            result["grad_weight"].append(bn.weight.grad.clone())
            result["grad_bias"].append(bn.bias.grad.clone())
        result["running_mean"].append(bn.running_mean.detach().clone())
        result["running_var"].append(bn.running_var.detach().clone())
    bn.eval()
    with torch.no_grad():
        result["eval_out"] = bn(x_eval)
        result["eval_out_again"] = bn(x_eval)
    result["running_mean_after_eval"] = bn.running_mean.detach().clone()
    result["running_var_after_eval"] = bn.running_var.detach().clone()
    return result


def _initial_state(m, cls_name, channels, affine):
    bn = getattr(m, cls_name)(channels, affine=affine)
    state = bn.state_dict()
    return {
        "keys": sorted(k for k in state if k != "num_batches_tracked"),
        "parameters": sorted(n for n, _ in bn.named_parameters()),
        "buffers": sorted(n for n, _ in bn.named_buffers() if n != "num_batches_tracked"),
        "running_mean": bn.running_mean.clone(),
        "running_var": bn.running_var.clone(),
        "weight": None if bn.weight is None else bn.weight.detach().clone(),
        "bias": None if bn.bias is None else bn.bias.detach().clone(),
    }


def _single_value_per_channel(m, cls_name, x):
    bn = getattr(m, cls_name)(x.shape[1]).double()
    try:
        bn(x)
    except NotImplementedError:
        raise
    except ValueError:
        training = "ValueError"
    except Exception as error:
        training = type(error).__name__
    else:
        training = "no error"
    bn.eval()
    return training, bn(x).detach()


# --- inputs and hand-computed mistakes -----------------------------------------------------------


def case_inputs(shape, seed):
    """Five training batches with channel offsets, their upstream gradients, an eval batch, γ and β."""
    channels = shape[1]
    offset = torch.linspace(-2.0, 3.0, channels).view([1, channels] + [1] * (len(shape) - 2))
    xs = [randn(*shape, seed=seed + i, scale=2.0) + offset for i in range(STEPS)]
    upstreams = [randn(*shape, seed=seed + 10 + i) for i in range(STEPS)]
    x_eval = randn(*shape, seed=seed + 20, scale=2.0) + offset
    weight = 1.0 + 0.5 * randn(channels, seed=seed + 30)
    bias = randn(channels, seed=seed + 31)
    return xs, upstreams, x_eval, weight, bias


def dims_of(x):
    return [0, *range(2, x.dim())]


def per_channel(v, x):
    return v.view([1, -1] + [1] * (x.dim() - 2))


def normalize(x, mean, var, weight, bias, eps=1e-5):
    out = (x - per_channel(mean, x)) / torch.sqrt(per_channel(var, x) + eps)
    return out * per_channel(weight, x) + per_channel(bias, x)


def batch_norm_by_hand(x, weight, bias, *, unbiased=False, only_dim_0=False):
    dims = [0] if only_dim_0 else dims_of(x)
    mean, var = x.mean(dims, keepdim=True), x.var(dims, unbiased=unbiased, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * per_channel(weight, x) + per_channel(bias, x)


def running_by_hand(xs, *, momentum=0.1, unbiased=True, inverted=False, var0=1.0):
    """The running statistics after each batch, under a chosen (possibly mistaken) convention."""
    channels = xs[0].shape[1]
    mean, var = torch.zeros(channels, dtype=torch.float64), torch.full((channels,), var0, dtype=torch.float64)
    means, variances = [], []
    for x in xs:
        new = 1 - momentum if inverted else momentum
        mean = (1 - new) * mean + new * x.mean(dims_of(x))
        var = (1 - new) * var + new * x.var(dims_of(x), unbiased=unbiased)
        means.append(mean)
        variances.append(var)
    return means, variances


def run_both(student, case, seed, **options):
    shape, twin = CASES[case]
    xs, upstreams, x_eval, weight, bias = case_inputs(shape, seed)
    args = (shape[1], xs, upstreams, x_eval, weight, bias, options)
    got = student.run(_train_then_eval, "BatchNorm", *args)
    want = _train_then_eval(nn, twin, *args)
    return got, want, (xs, upstreams, x_eval, weight, bias)


# --- tests --------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Normalize each channel over every dim but dim 1, with the variance that divides by n (the batch is the whole population here)."
)
@pytest.mark.parametrize("case", list(CASES))
def test_batchnorm_training_outputs_match_torch(student, case):
    got, want, (xs, _, _, weight, bias) = run_both(student, case, 100)
    for step in range(STEPS):
        x = xs[step]
        mistakes = {
            "normalized with the unbiased variance (n - 1): normalize the batch with the biased one": batch_norm_by_hand(
                x, weight, bias, unbiased=True
            )
        }
        if x.dim() > 2:
            mistakes["normalized over dim 0 only: a channel's values are spread over dims (0, 2, 3)"] = (
                batch_norm_by_hand(x, weight, bias, only_dim_0=True)
            )
        assert_close(got["out"][step], want["out"][step], what=f"training output of step {step + 1}", mistakes=mistakes)


@pytest.mark.points(3)
@pytest.mark.hint(
    "One variance normalizes the batch, the other estimates the population; "
    "torch keeps (1 - momentum) of the old running value, and starts running_var at 1."
)
@pytest.mark.parametrize("case", list(CASES))
def test_batchnorm_running_statistics_match_torch_after_5_steps(student, case):
    got, want, (xs, *_) = run_both(student, case, 200)
    biased_means, biased_vars = running_by_hand(xs, unbiased=False)
    inverted_means, inverted_vars = running_by_hand(xs, inverted=True)
    _, zero_start_vars = running_by_hand(xs, var0=0.0)
    assert_close(
        got["running_mean"],
        want["running_mean"],
        what="running_mean after each step",
        mistakes={"momentum convention inverted: torch weights the new batch mean by momentum = 0.1": inverted_means},
    )
    count = xs[0].numel() // xs[0].shape[1]
    assert_close(
        got["running_var"],
        want["running_var"],
        what="running_var after each step",
        mistakes={
            f"running_var differs by n/(n - 1) = {count}/{count - 1}: update it with the unbiased variance": biased_vars,
            "momentum convention inverted: torch weights the new batch variance by momentum = 0.1": inverted_vars,
            "running_var started at 0: torch starts it at 1": zero_start_vars,
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("In eval mode, normalize with the running statistics, not the statistics of the batch in front of you.")
@pytest.mark.parametrize("case", list(CASES))
def test_batchnorm_eval_output_uses_the_running_statistics(student, case):
    got, want, (_, _, x_eval, weight, bias) = run_both(student, case, 300)
    assert_close(
        got["eval_out"],
        want["eval_out"],
        what="eval output after 5 training steps",
        mistakes={"eval mode used the batch's own statistics": batch_norm_by_hand(x_eval, weight, bias)},
    )


@pytest.mark.points(2)
@pytest.mark.hint("Evaluation must not change the model: update running_mean and running_var only in training mode.")
@pytest.mark.parametrize("case", ["(7, 5)", "(6, 2, 3, 5)"])
def test_batchnorm_eval_does_not_update_the_running_statistics(student, case):
    got, _, _ = run_both(student, case, 400)
    unchanged = torch.equal(got["running_mean_after_eval"], got["running_mean"][-1]) and torch.equal(
        got["running_var_after_eval"], got["running_var"][-1]
    )
    if not unchanged:
        fail("the running statistics changed in eval mode: two eval passes must not move them")
    assert_close(got["eval_out_again"], got["eval_out"], what="a second eval pass on the same batch")


@pytest.mark.points(3)
@pytest.mark.hint(
    "Build the forward pass from torch operations on x, weight and bias; the batch mean and variance depend on x too."
)
@pytest.mark.parametrize("case", list(CASES))
def test_batchnorm_gradients_of_x_gamma_and_beta_match_torch(student, case):
    got, want, _ = run_both(student, case, 500)
    for name in ("grad_x", "grad_weight", "grad_bias"):
        assert_close(got[name], want[name], atol=1e-10, rtol=1e-7, what=f"{name} at each step")


@pytest.mark.points(2)
@pytest.mark.hint("eps, momentum and affine are arguments: use them. Without affine there is no weight or bias.")
@pytest.mark.parametrize("case", ["(7, 5)", "(6, 2, 3, 5)"])
def test_batchnorm_honours_eps_momentum_and_affine_false(student, case):
    options = {"eps": 1e-2, "momentum": 0.3, "affine": False}
    got, want, inputs = run_both(student, case, 600, **options)
    shape, twin = CASES[case]
    args = (shape[1], *inputs[:3], inputs[3], inputs[4])
    no_eps = _train_then_eval(nn, twin, *args, dict(options, eps=1e-5))
    no_momentum = _train_then_eval(nn, twin, *args, dict(options, momentum=0.1))
    for key in ("out", "grad_x", "running_mean", "running_var", "eval_out"):
        mistakes = {}
        if key not in ("running_mean", "running_var"):  # eps is not in the running statistics
            mistakes["the eps argument was ignored (1e-5 used instead of 0.01)"] = no_eps[key]
        if key not in ("out", "grad_x"):  # training normalizes with the batch's statistics: momentum is not in them
            mistakes["the momentum argument was ignored (0.1 used instead of 0.3)"] = no_momentum[key]
        assert_close(got[key], want[key], what=f"{key} with eps=0.01, momentum=0.3, affine=False", mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint(
    "weight and bias are nn.Parameters (ones, zeros); running_mean and running_var are buffers "
    "(register_buffer), so state_dict and .double() see them. running_var starts at 1."
)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "not_affine"])
def test_batchnorm_initial_parameters_and_buffers_match_torch(student, affine):
    got = student.run(_initial_state, "BatchNorm", 4, affine)
    want = _initial_state(nn, "BatchNorm1d", 4, affine)
    if got["parameters"] != want["parameters"]:
        fail(f"parameters {got['parameters']}, expected {want['parameters']} (nn.Parameter attributes)")
    if got["buffers"] != want["buffers"]:
        fail(f"buffers {got['buffers']}, expected {want['buffers']} (register them with register_buffer)")
    if affine:
        assert_close(got["weight"], want["weight"], what="initial weight")
        assert_close(got["bias"], want["bias"], what="initial bias")
    elif got["weight"] is not None or got["bias"] is not None:
        fail("affine=False must leave weight and bias as None")
    assert_close(got["running_mean"], want["running_mean"], what="initial running_mean")
    assert_close(
        got["running_var"],
        want["running_var"],
        what="initial running_var",
        mistakes={"running_var starts at 0: torch starts it at 1": torch.zeros(4)},
    )


@pytest.mark.points(1)
@pytest.mark.hint("With one value per channel the batch variance is 0 and says nothing: torch raises ValueError in training.")
def test_batchnorm_raises_on_one_value_per_channel_in_training_but_not_in_eval(student):
    x = randn(1, 4, seed=700)
    training, out = student.run(_single_value_per_channel, "BatchNorm", x)
    if training != "ValueError":
        fail(f"training on a (1, 4) batch gave {training}, expected a ValueError (one value per channel)")
    assert_close(out, _single_value_per_channel(nn, "BatchNorm1d", x)[1], what="eval output for a batch of one")
