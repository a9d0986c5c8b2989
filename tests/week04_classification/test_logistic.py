"""Hidden tests of week 4, logistic.py: the logistic loss and its gradient, by hand.

The loss is compared with F.binary_cross_entropy_with_logits and the gradients with autograd's
gradient of that same torch loss, all computed at test time on seeded inputs in float64. Then
the two places where logistic regression breaks: scores of |z| = 500 on separable data (in
float32 and float64), and labels in the other convention, {-1, +1}, which must be refused.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, rand_labels, randn

pytestmark = pytest.mark.exercise("logistic")

SIZES = [(1, 3), (7, 5), (50, 4)]  # (N, D)


def problem(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded (w, b, X, y) with labels 0. or 1."""
    w, b = randn(d, seed=seed), randn(seed=seed + 1)
    X, y = randn(n, d, seed=seed + 2, scale=2.0), rand_labels(n, num_classes=2, seed=seed + 3).double()
    return w, b, X, y


def torch_loss_and_grad(w, b, X, y):
    """The mean loss of F.binary_cross_entropy_with_logits and its gradient by autograd."""
    w, b = w.clone().requires_grad_(), b.clone().requires_grad_()
    loss = F.binary_cross_entropy_with_logits(X @ w + b, y)
    loss.backward()
    return loss.detach(), w.grad, b.grad


def loss_and_grad(student, w, b, X, y):
    """The learner's (loss, dw, db), or a failure if the result is not a triple."""
    got = student.logistic_loss_and_grad(w, b, X, y)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        fail("logistic_loss_and_grad must return a tuple (loss, dw, db)")
    return got


def _label_check(m, w, b, X, y):
    try:
        m.logistic_loss_and_grad(w, b, X, y)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:
        return type(error).__name__
    return "no error"


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Each sample scores z = w·x + b; then the binary cross-entropy -[y log σ(z) + (1 - y) log(1 - σ(z))], "
    "averaged over the N samples."
)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"N={s[0]},D={s[1]}")
def test_loss_matches_F_binary_cross_entropy_with_logits(student, size):
    w, b, X, y = problem(*size, seed=10)
    want = F.binary_cross_entropy_with_logits(X @ w + b, y)
    got = loss_and_grad(student, w, b, X, y)
    mistakes = {"lost the minus sign: the loss is never negative": -want}
    if size[0] > 1:
        mistakes["sum instead of mean over the samples"] = F.binary_cross_entropy_with_logits(
            X @ w + b, y, reduction="sum"
        )
    assert_close(got[0], want, what="loss", mistakes=mistakes)


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "d loss_n / d z_n = σ(z_n) - y_n; the chain rule through each score w·x + b gives dw from X and db from the errors "
    "alone, and the loss is a mean, so its gradient is one too."
)
@pytest.mark.parametrize("size", SIZES[1:], ids=lambda s: f"N={s[0]},D={s[1]}")
def test_gradients_match_autograd(student, size):
    w, b, X, y = problem(*size, seed=20)
    _, want_dw, want_db = torch_loss_and_grad(w, b, X, y)
    n = size[0]
    _, dw, db = loss_and_grad(student, w, b, X, y)
    for what, got, want in (("dw", dw, want_dw), ("db", db, want_db)):
        assert_close(
            got,
            want,
            what=what,
            mistakes={
                f"{what} has the wrong sign: it points uphill (y - σ(z) instead of σ(z) - y)": -want,
                f"{what} is N times too large: the loss is a mean, so its gradient must be divided by N": n * want,
            },
        )


@pytest.mark.points(2)
@pytest.mark.hint(
    "The loss is a mean over the samples: one sample and 17 copies of it have the same loss, so the same gradient."
)
def test_gradient_of_17_copies_of_a_sample_equals_the_gradient_of_one(student):
    w, b, X, y = problem(1, 4, seed=30)
    loss1, dw1, db1 = loss_and_grad(student, w, b, X, y)
    loss17, dw17, db17 = loss_and_grad(student, w, b, X.repeat(17, 1), y.repeat(17))
    for what, one, many in (("dw", dw1, dw17), ("db", db1, db17)):
        if isinstance(one, torch.Tensor) and isinstance(many, torch.Tensor) and one.shape == many.shape:
            if torch.allclose(many, 17 * one) and one.abs().sum() > 0:
                fail(f"{what} grows with the batch (17 copies give 17 times the gradient): it is not divided by N")
        assert_close(many, one, what=f"{what} of 17 copies vs of one sample")
    assert_close(loss17, loss1, what="loss of 17 copies vs of one sample")


@pytest.mark.points(2)
@pytest.mark.hint(
    "σ(500) is exactly 1 in floating point, so log(1 - σ(z)) is log 0 and 0·log 0 is NaN. Write log σ(z) and "
    "log(1 - σ(z)) directly in z (softplus, logaddexp) instead of taking the log of a probability."
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_loss_and_gradients_stay_finite_and_exact_at_margin_500(student, dtype):
    X = torch.tensor([[5.0, 1.0], [-5.0, 2.0], [5.0, -1.0], [-5.0, 0.0], [5.0, 3.0], [-5.0, -2.0]], dtype=dtype)
    w, b = torch.tensor([100.0, 0.0], dtype=dtype), torch.zeros((), dtype=dtype)  # z = ±500
    separable = (X[:, 0] > 0).to(dtype)
    for what, y in (("separable data, |z| = 500", separable), ("every label wrong, |z| = 500", 1 - separable)):
        got = loss_and_grad(student, w, b, X, y)
        if all(isinstance(t, torch.Tensor) for t in got):
            if not all(torch.isfinite(t).all() for t in got):
                fail(f"NaN or inf on {what}: log(sigmoid(z)) takes the log of a probability that rounded to 0 or 1")
        assert_close(got, torch_loss_and_grad(w, b, X, y), what=what)


@pytest.mark.points(1)
@pytest.mark.hint(
    "Labels of logistic regression are 0 and 1 here; the other convention, {-1, +1}, gives a wrong loss silently, "
    "so check the labels first and raise a ValueError that says what was expected."
)
def test_labels_in_minus_one_plus_one_are_rejected_with_a_value_error(student):
    w, b, X, y = problem(6, 3, seed=40)
    signed = 2 * y - 1
    raised = student.run(_label_check, w, b, X, signed)
    if raised != "ValueError":
        fail(f"labels in {{-1, +1}} gave {raised}, expected a ValueError")
    ok = student.run(_label_check, w, b, X, y)
    if ok != "no error":
        fail(f"valid labels 0 and 1 raised {ok}")
