"""Hidden tests of week 4, softmax_regression.py: training a C-class linear classifier, and measuring it.

Training is judged by what it achieves, never by its exact numbers (full-batch and minibatch
gradient descent are both correct): accuracy on the training blobs and on fresh blobs from the
same distribution, its CPU time, and determinism given the seed of the generator it receives
(generators cannot cross the transport, so a probe builds one from a seed). Probes train with one
torch thread: on a problem this small, more threads only spin, and burn CPU time, on a busy
machine. The confusion matrix is compared with torch.bincount(target * C + pred).reshape(C, C),
rows = true classes.
"""

from __future__ import annotations

import math

import pytest
import torch

from grader.testing import assert_close, fail, generator, is_close, rand_labels

pytestmark = pytest.mark.exercise("softmax_regression")

LR, EPOCHS, TIME_LIMIT = 0.5, 30, 2.0


def blobs(centers: torch.Tensor, sizes: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs of unit variance around `centers` (C, D), `sizes[c]` points of class c, shuffled."""
    g = generator(seed)
    X = torch.cat(
        [c + torch.randn(k, len(c), generator=g, dtype=torch.float64) for c, k in zip(centers, sizes, strict=True)]
    )
    y = torch.cat([torch.full((k,), c) for c, k in enumerate(sizes)])
    order = torch.randperm(len(y), generator=g)
    return X[order], y[order]


def three_blob_centers() -> torch.Tensor:
    """Three centres 3.5 from (1, -2), 120° apart: about 1% of the points fall on another blob's side."""
    angles = torch.tensor([90.0, 210.0, 330.0], dtype=torch.float64) * math.pi / 180
    return torch.stack([3.5 * angles.cos() + 1.0, 3.5 * angles.sin() - 2.0], dim=1)


def bincount_confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """torch's count of (true, predicted) pairs: rows are true classes."""
    return torch.bincount(target * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def _train_timed(m, X, y, num_classes, lr, epochs, seed):
    import time

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny problem: on a busy machine, extra threads only spin and burn CPU time
    try:
        start = time.process_time()
        W, b = m.train_softmax_regression(X, y, num_classes, lr, epochs, torch.Generator().manual_seed(seed))
        return W, b, time.process_time() - start
    finally:
        torch.set_num_threads(threads)


def _train_twice_under_different_global_seeds(m, X, y, num_classes, lr, epochs, seed):
    saved, threads = torch.get_rng_state(), torch.get_num_threads()
    torch.set_num_threads(1)
    runs = []
    try:
        for global_seed in (1, 2):
            torch.manual_seed(global_seed)
            runs.append(m.train_softmax_regression(X, y, num_classes, lr, epochs, torch.Generator().manual_seed(seed)))
    finally:
        torch.set_rng_state(saved)
        torch.set_num_threads(threads)
    return runs


def _confusion_or_error(m, pred, target, num_classes):
    try:
        return {"value": m.confusion_matrix(pred, target, num_classes), "error": ""}
    except NotImplementedError:
        raise
    except Exception as error:
        return {"value": None, "error": f"{type(error).__name__}: {error}"}


def trained(student, X, y, num_classes, seed=0):
    """The learner's (W, b) and CPU seconds, with a failure for a wrong shape."""
    W, b, seconds = student.run(_train_timed, X, y, num_classes, LR, EPOCHS, seed)
    d = X.shape[1]
    if not (isinstance(W, torch.Tensor) and isinstance(b, torch.Tensor)):
        fail("train_softmax_regression must return two tensors (W, b)")
    if W.shape == (num_classes, d) and W.shape != (d, num_classes):
        fail(f"W has shape {tuple(W.shape)}, expected (D, C) = {(d, num_classes)}: the logits are X @ W + b")
    if W.shape != (d, num_classes) or b.shape != (num_classes,):
        fail(
            f"W and b have shapes {tuple(W.shape)} and {tuple(b.shape)}, expected {(d, num_classes)} and {(num_classes,)}"
        )
    return W, b, seconds


def accuracy_of(W: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> float:
    return ((X @ W.double() + b.double()).argmax(1) == y).double().mean().item()


# --- accuracy and the confusion matrix ----------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Accuracy is the fraction (not the number) of predictions equal to their target: a 0-d float in [0, 1]."
)
def test_accuracy_is_the_fraction_of_right_predictions(student):
    for n, seed in ((1, 1), (9, 2), (100, 3)):
        target = rand_labels(n, num_classes=3, seed=seed)
        pred = torch.where(rand_labels(n, num_classes=4, seed=seed + 10) == 0, (target + 1) % 3, target)
        want = (pred == target).double().mean()
        mistakes = {}
        if n > 1:  # one prediction: its count (0 or 1) is its fraction
            mistakes["returned the number of right predictions, not their fraction"] = (pred == target).sum().double()
        assert_close(
            student.accuracy(pred, target),
            want,
            what="accuracy of one prediction" if n == 1 else f"accuracy of {n} predictions",
            mistakes=mistakes,
        )


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "C[i, j] counts the samples of true class i predicted as class j: one row per true class, one column per "
    "prediction, integer counts."
)
def test_confusion_matrix_matches_bincount(student):
    for n, num_classes, seed in ((50, 4, 4), (1, 3, 5), (17, 6, 6)):
        target = rand_labels(n, num_classes=num_classes, seed=seed)
        pred = rand_labels(n, num_classes=num_classes, seed=seed + 10)
        want = bincount_confusion(pred, target, num_classes)
        assert_close(
            student.confusion_matrix(pred, target, num_classes),
            want,
            what=f"confusion matrix of {n} predictions, {num_classes} classes",
            mistakes={"transposed: rows must be the true classes, columns the predictions": want.T},
        )


@pytest.mark.points(2)
@pytest.mark.hint("Rows are true classes and columns predictions: which of pred and target picks the row?")
def test_confusion_matrix_rows_are_the_true_classes(student):
    target = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    pred = torch.tensor([0, 1, 1, 2, 1, 1, 0])  # two samples of class 0 taken for class 1, none the other way
    want = bincount_confusion(pred, target, 3)
    assert_close(
        student.confusion_matrix(pred, target, 3),
        want,
        mistakes={"transposed: rows must be the true classes, columns the predictions": want.T},
    )


@pytest.mark.points(1)
@pytest.mark.hint(
    "The matrix is num_classes × num_classes whatever the batch holds: a class that never occurs (or an empty "
    "batch) still has its row and column, of zeros."
)
def test_confusion_matrix_keeps_its_shape_when_classes_are_absent(student):
    cases = {
        "class 4 absent from the batch": (torch.tensor([0, 1, 2, 3, 1]), torch.tensor([0, 1, 3, 3, 2]), 5),
        "an empty batch": (torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), 3),
    }
    for what, (pred, target, num_classes) in cases.items():
        out = student.run(_confusion_or_error, pred, target, num_classes)
        if out["error"]:
            fail(f"{what}: {out['error']} (the matrix must stay {num_classes}×{num_classes})")
        assert_close(out["value"], bincount_confusion(pred, target, num_classes), what=what)


# --- training -------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.timeout(20)
@pytest.mark.hint(
    "Gradient of the mean cross-entropy with respect to the logits: (softmax(logits) - one_hot(y)) / N; then "
    "dW = Xᵀ·that and db = its sum over the samples; step downhill, W -= lr·dW. Vectorize over the batch."
)
def test_softmax_regression_reaches_95_percent_on_three_blobs_in_under_2_s(student):
    centers = three_blob_centers()
    X, y = blobs(centers, [100, 100, 100], seed=1)
    X_new, y_new = blobs(centers, [200, 200, 200], seed=2)
    W, b, seconds = trained(student, X, y, 3)
    if not (torch.isfinite(W).all() and torch.isfinite(b).all()):
        fail("W or b is not finite after training: the steps diverged")
    train_accuracy, new_accuracy = accuracy_of(W, b, X, y), accuracy_of(W, b, X_new, y_new)
    if train_accuracy < 0.95:
        fail(f"training accuracy {train_accuracy:.3f}, expected >= 0.95 after {EPOCHS} epochs at lr = {LR}")
    if new_accuracy < 0.95:
        fail(f"accuracy {new_accuracy:.3f} on fresh points of the same blobs, expected >= 0.95")
    if seconds > TIME_LIMIT:
        fail(f"training took {seconds:.2f} s of CPU time, expected under {TIME_LIMIT:g} s: vectorize over the samples")


@pytest.mark.points(2)
@pytest.mark.timeout(20)
@pytest.mark.hint(
    "The same loss and gradient work for any number of classes and features; use num_classes, not 3, and the "
    "shape of X."
)
def test_softmax_regression_on_four_unbalanced_classes_in_five_dims(student):
    centers = 4 * torch.randn(4, 5, generator=generator(3), dtype=torch.float64)
    X, y = blobs(centers, [120, 40, 80, 25], seed=4)
    X_new, y_new = blobs(centers, [100, 100, 100, 100], seed=5)
    W, b, _ = trained(student, X, y, 4, seed=6)
    new_accuracy = accuracy_of(W, b, X_new, y_new)
    if new_accuracy < 0.95:
        fail(f"accuracy {new_accuracy:.3f} on fresh points of 4 blobs in 5 dims, expected >= 0.95")


@pytest.mark.points(2)
@pytest.mark.timeout(20)
@pytest.mark.hint(
    "Draw every random number (initial weights, shuffling) from the `generator` argument (generator=...), never "
    "from torch's global random state."
)
def test_softmax_regression_is_deterministic_given_the_generator(student):
    X, y = blobs(three_blob_centers(), [30, 30, 30], seed=7)
    first, second = student.run(_train_twice_under_different_global_seeds, X, y, 3, LR, 5, 8)
    if not is_close(second, first, rtol=0, atol=0):
        fail(
            "two runs with the same generator seed gave different (W, b): some random numbers come from torch's "
            "global random state, not from `generator`"
        )
    assert_close(second, first, rtol=0, atol=0, what="(W, b) of a second run with the same generator seed")


# --- the update rule itself, not only the accuracy it reaches -------------------------------------


def _one_epoch_from_the_same_start(m, X, y, num_classes, lr, seed):
    """(W, b) after one epoch at lr = 0 (the initialization) and at `lr`, from the same seed."""
    start = m.train_softmax_regression(X, y, num_classes, 0.0, 1, torch.Generator().manual_seed(seed))
    after = m.train_softmax_regression(X, y, num_classes, lr, 1, torch.Generator().manual_seed(seed))
    return {"start": start, "after": after}


def steps_on_one_example(W, b, x0, label, lr, k, *, update_b=True, sign=1.0):
    """k gradient-descent steps on the cross-entropy of the single example (x0, label)."""
    for _ in range(k):
        W, b = W.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
        loss = torch.nn.functional.cross_entropy((x0 @ W + b).unsqueeze(0), torch.tensor([label]))
        dW, db = torch.autograd.grad(loss, (W, b))
        W, b = W - sign * lr * dW, (b - sign * lr * db) if update_b else b
    return W.detach(), b.detach()


@pytest.mark.points(3)
@pytest.mark.hint(
    "One step is W ← W − lr·∂L/∂W with L the MEAN cross-entropy over the (mini)batch, ∂L/∂logits = "
    "(softmax − one-hot) / batch size; b takes its own step. A sum or a wrong sign can still end accurate."
)
def test_softmax_regression_steps_down_the_gradient_of_the_mean_loss(student):
    # 30 copies of one example: every (mini)batch has that example's gradient, whatever the shuffling or
    # the batch size, so one epoch is k gradient-descent steps on the one example, for some k in 1..30.
    n, lr, label = 30, 0.5, 1
    x0 = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
    X, y = x0.repeat(n, 1), torch.full((n,), label)
    got = student.run(_one_epoch_from_the_same_start, X, y, 3, lr, 7)
    (W0, b0), (W, b) = got["start"], got["after"]
    if tuple(W.shape) != (3, 3) or tuple(b.shape) != (3,):
        fail(f"W of shape (3, 3) and b of shape (3,) expected, got {tuple(W.shape)} and {tuple(b.shape)}")
    for k in range(1, n + 1):
        if is_close((W, b), steps_on_one_example(W0, b0, x0, label, lr, k), rtol=1e-6, atol=1e-9):
            return
    candidates = {
        "one step of lr·N: the gradient was summed over the batch, not averaged (a step 30× too long)": (
            steps_on_one_example(W0, b0, x0, label, lr * n, 1)
        ),
    }
    for message, wrong in candidates.items():
        if is_close((W, b), wrong, rtol=1e-6, atol=1e-9):
            fail(message)
    for k in range(1, n + 1):
        if is_close((W, b), steps_on_one_example(W0, b0, x0, label, lr, k, sign=-1.0), rtol=1e-6, atol=1e-9):
            fail("W and b moved up the gradient: the step must go against ∂L/∂W")
        if is_close(W, steps_on_one_example(W0, b0, x0, label, lr, k)[0], rtol=1e-6, atol=1e-9):
            fail("W follows the gradient but b does not: b never moved, or moved with the wrong gradient")
    fail(
        "after one epoch on 30 copies of one example, (W, b) is not k gradient-descent steps of lr on that example "
        "for any k: check ∂L/∂logits = (softmax − one-hot) / batch size and the chain rule to W and b"
    )


@pytest.mark.points(1)
@pytest.mark.hint("W and b are of X's dtype: create them like X (X.new_zeros, or dtype=X.dtype).")
def test_softmax_regression_keeps_float32(student):
    X, y = blobs(three_blob_centers(), [10, 10, 10], seed=8)
    X = X.float()
    W, b = student.run(_one_epoch_from_the_same_start, X, y, 3, 0.1, 3)["after"]
    for name, value in (("W", W), ("b", b)):
        if value.dtype != X.dtype:
            fail(f"{name} is {value.dtype} for a {X.dtype} X; it must keep X's dtype")
