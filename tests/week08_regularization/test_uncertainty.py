"""Hidden tests of week 8, uncertainty.py (★ optional): Monte Carlo dropout.

The samples are random, and a correct learner may consume the random stream in any order, so the
tests never compare two runs. They use models whose predictive mean and variance are known
exactly: when dropout feeds a linear layer, E[output] is the eval-mode output and the variance
is Σ_j W_ij² h_j² · p/(1 - p) (h: the activations entering dropout). The learner's estimates
over T passes must be within a few standard errors of those.
"""

from __future__ import annotations

import math

import pytest
import torch

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("uncertainty")

SAMPLES = 2000


def _exact_case(m, x, p, num_samples, seed, start_in_train):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # thousands of tiny passes: two threads only fight over a busy machine
    try:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(p), nn.Linear(6, 3)).double()
        with torch.no_grad():
            model[1].running_mean.copy_(torch.linspace(-2.0, 2.0, 6))
            model[1].running_var.copy_(torch.linspace(0.5, 3.0, 6))
            model[1].weight.copy_(torch.linspace(0.5, 1.5, 6))
        model.train(start_in_train)
        modes = [module.training for module in model.modules()]
        mean, var = m.mc_dropout_predict(model, x, num_samples)
        modes_after = [module.training for module in model.modules()]
        model.eval()
        with torch.no_grad():
            h = model[:3](x)
            exact_mean = model(x)
            exact_var = (h**2) @ (model[4].weight ** 2).T * (p / (1 - p))
    finally:
        torch.set_num_threads(threads)
    return {
        "mean": mean,
        "var": var,
        "exact_mean": exact_mean,
        "exact_var": exact_var,
        "modes": modes,
        "modes_after": modes_after,
        "requires_grad": bool(mean.requires_grad or var.requires_grad),
    }


def _no_dropout(m, x, num_samples):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    mean, var = m.mc_dropout_predict(model, x, num_samples)
    with torch.no_grad():
        return mean, var, model(x)


def check_estimates(case, what):
    mean, var = case["mean"], case["var"]
    exact_mean, exact_var = case["exact_mean"], case["exact_var"]
    for name, value in (("mean", mean), ("var", var)):
        if not isinstance(value, torch.Tensor) or value.shape != exact_mean.shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            fail(f"{what}: the {name} should have the shape of model(x), {tuple(exact_mean.shape)}, got {got}")
    standard_error = (exact_var / SAMPLES).sqrt()
    if ((mean - exact_mean).abs() > 6 * standard_error + 1e-9).any():
        fail(
            f"{what}: the predictive mean is more than 6 standard errors from the eval-mode output: "
            "are layers other than dropout (batch norm) in training mode during the passes?"
        )
    if (exact_var > 0).any() and float(var.abs().max()) == 0.0:
        fail(f"{what}: the variance is 0: dropout was not active during the passes")
    if torch.allclose(var, exact_var.sqrt(), rtol=0.15):
        fail(f"{what}: matches the standard deviation, not the variance")
    assert_close(var, exact_var, rtol=0.15, atol=1e-9, what=f"{what}: predictive variance")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Switch on only the nn.Dropout layers: batch norm must keep using its running statistics. Average T passes."
)
@pytest.mark.parametrize("rows", [1, 5])
def test_mc_dropout_mean_and_variance_match_the_exact_values(student, rows):
    x = randn(rows, 4, seed=rows)
    for p in (0.2, 0.5):
        case = student.run(_exact_case, x, p, SAMPLES, 10, False)
        check_estimates(case, f"p={p}, batch of {rows}")


@pytest.mark.points(1)
@pytest.mark.hint("Remember every module's `training` flag before the passes and put each one back afterwards.")
@pytest.mark.parametrize("start_in_train", [False, True], ids=["eval", "train"])
def test_mc_dropout_leaves_the_model_in_its_mode(student, start_in_train):
    case = student.run(_exact_case, randn(3, 4, seed=4), 0.3, 20, 11, start_in_train)
    if case["modes_after"] != case["modes"]:
        changed = sum(a != b for a, b in zip(case["modes"], case["modes_after"]))
        fail(f"{changed} modules were left in another mode than before the call (model started in {'train' if start_in_train else 'eval'} mode)")


@pytest.mark.points(1)
@pytest.mark.hint("Prediction needs no gradients: run the passes under torch.no_grad().")
def test_mc_dropout_records_no_gradients(student):
    case = student.run(_exact_case, randn(3, 4, seed=5), 0.3, 5, 12, False)
    if case["requires_grad"]:
        fail("the mean or variance requires grad: the passes recorded an autograd graph")


@pytest.mark.points(1)
@pytest.mark.hint("With one pass there is no spread: the variance over the samples divides by T, not T - 1.")
def test_mc_dropout_with_one_sample_has_zero_variance(student):
    case = student.run(_exact_case, randn(2, 4, seed=6), 0.3, 1, 13, False)
    var = case["var"]
    if isinstance(var, torch.Tensor) and torch.isnan(var).any():
        fail("NaN variance for T = 1: the unbiased variance divides by T - 1 = 0; use the 1/T variance")
    assert_close(var, torch.zeros_like(case["exact_mean"]), what="variance for T = 1")


@pytest.mark.points(1)
@pytest.mark.hint("A model without dropout is deterministic: every pass gives the same output.")
def test_mc_dropout_without_dropout_layers_is_deterministic(student):
    x = randn(4, 5, seed=7)
    mean, var, out = student.run(_no_dropout, x, 7)
    assert_close(mean, out, what="mean of a model without dropout")
    assert_close(var, torch.zeros_like(out), atol=1e-12, what="variance of a model without dropout")
