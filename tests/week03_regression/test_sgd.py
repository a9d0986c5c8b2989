"""Hidden tests of week 3, sgd.py: linear regression trained by minibatch SGD.

A learner's random stream is never pinned: the order of the examples may be drawn in any way
from the given generator. What is tested is what every correct implementation shares: it
recovers known weights; with one batch per epoch it is plain gradient descent (which the test
computes); one epoch at a tiny learning rate moves w by lr·(2/B)·Xᵀy whatever the order, if and
only if every example is used exactly once; and the same seed reproduces a run. Generators cannot
cross the transport, so probes build them from a seed.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import assert_close, fail, is_close, randn

pytestmark = pytest.mark.exercise("sgd")

LR = 0.05


def synthetic(n: int, d: int, seed: int, dtype: torch.dtype = torch.float64, noise: float = 0.01):
    """X, y = X w_true + b_true + noise, with w_true, b_true returned too."""
    X = randn(n, d, seed=seed, dtype=dtype)
    w_true = randn(d, seed=seed + 1, dtype=dtype)
    b_true = torch.tensor(0.5, dtype=dtype)
    y = X @ w_true + b_true + randn(n, seed=seed + 2, dtype=dtype, scale=noise)
    return X, y, w_true, b_true


def gradient_descent(X, y, lr, epochs, *, update_b=True, sequential=False):
    """Full-batch gradient descent on mean((Xw + b − y)²) from zeros: (w, b, loss before each step)."""
    w, b, losses = torch.zeros(X.shape[1], dtype=X.dtype), torch.zeros((), dtype=X.dtype), []
    for _ in range(epochs):
        r = X @ w + b - y
        losses.append(float((r**2).mean()))
        w_new = w - lr * X.T @ (2 * r / len(y))
        if sequential:  # b's gradient taken after w has already moved
            r = X @ w_new + b - y
        if update_b:
            b = b - lr * (2 * r / len(y)).sum()
        w = w_new
    return w, b, losses


def unpack(got: object) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """(w, b, losses) as returned by the learner, or a one-line failure."""
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        fail(f"fit_linear_sgd() must return a tuple (w, b, losses), got {type(got).__name__}")
    w, b, losses = got
    if not isinstance(w, torch.Tensor) or not isinstance(b, torch.Tensor):
        fail("w and b must be tensors")
    if not isinstance(losses, (list, tuple)) or not all(
        isinstance(v, (int, float)) or (isinstance(v, torch.Tensor) and v.numel() == 1) for v in losses
    ):
        fail("losses must be a list of numbers (floats), one per epoch")
    return w, b, [float(v) for v in losses]


def _fit(m, X, y, lr, epochs, batch_size, seed):
    return m.fit_linear_sgd(X, y, lr, epochs, batch_size, torch.Generator().manual_seed(seed))


def _generator_use(m, X, y, seeds):
    saved = torch.get_rng_state()
    runs, advanced, global_untouched = [], True, True
    try:
        for seed in seeds:
            g = torch.Generator().manual_seed(seed)
            before = g.get_state()
            torch.manual_seed(12345)
            runs.append(m.fit_linear_sgd(X, y, 0.05, 2, 4, g))
            advanced = advanced and not torch.equal(before, g.get_state())
            untouched = torch.equal(torch.get_rng_state(), torch.manual_seed(12345).get_state())
            global_untouched = global_untouched and untouched
    finally:
        torch.set_rng_state(saved)
    return {"runs": runs, "advanced": advanced, "global_untouched": global_untouched}


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "The batch loss is a mean over the batch, so one learning rate must work for every batch size; "
    "step both w and b against the gradient of that mean."
)
@pytest.mark.timeout(5)
@pytest.mark.parametrize("batch_size", [8, 64])
def test_fit_linear_sgd_recovers_known_weights(student, batch_size):
    X, y, w_true, b_true = synthetic(500, 5, seed=1, dtype=torch.float32)
    w, b, _ = unpack(student.run(_fit, X, y, LR, 20, batch_size, 0))
    if not (torch.isfinite(w).all() and torch.isfinite(b).all()):
        fail(
            f"training diverged at batch size {batch_size} with lr = {LR} (inf or NaN weights): "
            "is the batch loss a sum, which grows with the batch, instead of a mean?"
        )
    assert_close(w, w_true, atol=1e-2, rtol=0, what=f"w after 20 epochs at batch size {batch_size}")
    assert_close(b, b_true, atol=1e-2, rtol=0, what=f"b after 20 epochs at batch size {batch_size}")


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Return one number per epoch: the mean of that epoch's batch losses, each measured before its step. "
    "Training should bring it down by far more than 10×."
)
def test_fit_linear_sgd_reports_one_falling_loss_per_epoch(student):
    X, y, _, _ = synthetic(200, 3, seed=4)
    _, _, losses = unpack(student.run(_fit, X, y, LR, 10, 16, 1))
    if len(losses) != 10:
        fail(f"10 losses expected for 10 epochs, got {len(losses)}")
    if not losses[-1] < losses[0] / 10:
        fail(f"the last epoch's loss {losses[-1]:.3g} is not 10× below the first's {losses[0]:.3g}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "With batch_size = N every epoch is one step of gradient descent on mean((Xw + b − y)²): "
    "its gradient is 2·Xᵀr/N for w and 2·sum(r)/N for b, both taken at the old (w, b)."
)
def test_fit_linear_sgd_with_one_batch_per_epoch_is_gradient_descent(student):
    X, y, _, _ = synthetic(37, 3, seed=5)
    X = X + 1.0  # inputs off-centre, so that w and b interact
    w, b, losses = unpack(student.run(_fit, X, y, 0.1, 5, 37, 2))
    gd_w, gd_b, gd_losses = gradient_descent(X, y, 0.1, 5)
    after_step = gradient_descent(X, y, 0.1, 6)[2][1:]
    half_w, half_b, _ = gradient_descent(X, y, 0.05, 5)
    still_w, still_b, _ = gradient_descent(X, y, 0.1, 5, update_b=False)
    seq_w, seq_b, _ = gradient_descent(X, y, 0.1, 5, sequential=True)
    assert_close(
        (w, b),
        (gd_w, gd_b),
        what="(w, b) after 5 full-batch epochs",
        mistakes={
            "the factor 2 of the squared error's gradient is missing": (half_w, half_b),
            "the intercept b never moved: update it with its own gradient": (still_w, still_b),
            "b was updated with a gradient computed after w had moved: take both gradients at the old (w, b)": (
                seq_w,
                seq_b,
            ),
        },
    )
    assert_close(
        losses,
        gd_losses,
        what="losses (each epoch's loss measured before its step)",
        mistakes={"losses measured after each step, not before it": after_step},
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "An epoch is one pass over a permutation of the examples: every example exactly once, in batches "
    "(draw the order with torch.randperm, not with random indices that may repeat)."
)
def test_fit_linear_sgd_uses_every_example_once_per_epoch(student):
    X, y, _, _ = synthetic(48, 3, seed=6)
    y = y + 2.0
    lr, batch_size = 1e-6, 8
    w, b, _ = unpack(student.run(_fit, X, y, lr, 1, batch_size, 3))
    if tuple(w.shape) != (3,) or b.dim() != 0:
        fail(f"w of shape (3,) and a 0-d b expected, got {tuple(w.shape)} and {tuple(b.shape)}")
    # One epoch at a tiny lr: each batch steps by lr·(2/B)·X_bᵀy_b (to first order), whatever the order.
    want_w, want_b = (2 / batch_size) * X.T @ y, (2 / batch_size) * y.sum()
    got = (w / lr, b / lr)
    if is_close(got, (want_w, want_b), rtol=1e-3, atol=1e-6):
        return
    for message, wrong in {
        "the gradient is summed over the batch, not averaged": (batch_size * want_w, batch_size * want_b),
        "the factor 2 of the squared error's gradient is missing": (want_w / 2, want_b / 2),
    }.items():
        if is_close(got, wrong, rtol=1e-3, atol=1e-6):
            fail(message)
    fail(
        "after one epoch at lr = 1e-6, (w, b) / lr differs from (2/B)·(Xᵀy, sum(y)): not every example was used "
        "exactly once (indices drawn with repeats? a batch skipped or used twice?)"
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "Every random number must come from the generator argument (torch.randperm(N, generator=generator)), "
    "never from torch's global generator: the same seed must give the same run."
)
def test_fit_linear_sgd_draws_its_order_from_the_given_generator_only(student):
    X, y, _, _ = synthetic(24, 2, seed=7)
    use = student.run(_generator_use, X, y, [0, 0, 1])
    first, again, other = (unpack(run) for run in use["runs"])
    if not use["global_untouched"]:
        fail("drew from torch's global random generator, not only from the given one")
    if not use["advanced"]:
        fail("the generator argument was never used: shuffle the examples each epoch with it")
    for part, a, c in zip(("w", "b", "losses"), first, again, strict=True):
        if (isinstance(a, torch.Tensor) and not torch.equal(a, c)) or (not isinstance(a, torch.Tensor) and a != c):
            fail(f"two generators with the same seed gave different {part}")
    if torch.equal(first[0], other[0]):
        fail("generators with different seeds gave the same w: is the order of the examples drawn from the generator?")


# --- batches that do not divide N, and the epoch loss over several batches ------------------------


def repeated_example_run(x0: torch.Tensor, y0: float, lr: float, sizes: list[int], epochs: int):
    """(w, b, epoch losses) of SGD on N copies of one example, for batch sizes `sizes` per epoch.

    Every batch has the same mean loss and gradient as the single example, whatever the order, so
    each batch is one gradient-descent step on (x0, y0); `scale(size)` lets a test rebuild a mistake.
    """
    w, b, losses = torch.zeros_like(x0), torch.zeros((), dtype=x0.dtype), []
    for _ in range(epochs):
        batch_losses = []
        for size in sizes:
            r = x0 @ w + b - y0
            batch_losses.append((float(r**2), size))
            w, b = w - lr * 2 * r * x0, b - lr * 2 * r
        losses.append(batch_losses)
    return w, b, losses


@pytest.mark.points(3)
@pytest.mark.hint(
    "With N = 50 and batches of 8, an epoch has 7 batches and the last holds 2 examples: its mean divides by 2. "
    "An epoch's loss is the mean of its batches' losses, each taken before that batch's step."
)
def test_fit_linear_sgd_handles_a_last_smaller_batch_and_averages_the_epoch_loss(student):
    x0 = randn(3, seed=8)
    y0, n, batch_size, lr, epochs = 2.0, 50, 8, 0.05, 2
    X, y = x0.repeat(n, 1), torch.full((n,), y0, dtype=torch.float64)
    w, b, losses = unpack(student.run(_fit, X, y, lr, epochs, batch_size, 4))
    if tuple(w.shape) != (3,) or b.dim() != 0:
        fail(f"w of shape (3,) and a 0-d b expected, got {tuple(w.shape)} and {tuple(b.shape)}")
    if len(losses) != epochs:
        fail(f"{len(losses)} losses for {epochs} epochs: one per epoch expected")
    sizes = [8] * 6 + [2]
    want_w, want_b, per_batch = repeated_example_run(x0, y0, lr, sizes, epochs)
    # First 48 examples, which batches of 8 divide evenly: a learner wrong there has another problem.
    even_w, even_b, _ = unpack(student.run(_fit, X[:48], y[:48], lr, epochs, batch_size, 4))
    if not is_close((even_w, even_b), repeated_example_run(x0, y0, lr, [8] * 6, epochs)[:2], rtol=1e-9, atol=1e-12):
        fail(
            "(w, b) is already wrong when batches of 8 divide N = 48 evenly (see the gradient-descent test): "
            "the update rule itself is off, not the handling of the last batch"
        )
    # Mistakes, rebuilt from the same per-step arithmetic:
    dropped_w, dropped_b, _ = repeated_example_run(x0, y0, lr, [8] * 6, epochs)
    if not is_close((w, b), (want_w, want_b), rtol=1e-9, atol=1e-12):
        if is_close((w, b), (dropped_w, dropped_b), rtol=1e-9, atol=1e-12):
            fail("the last, smaller batch (2 of 50 examples) was skipped: every example is used once per epoch")
        ww, bb = torch.zeros(3, dtype=torch.float64), torch.zeros((), dtype=torch.float64)
        for _ in range(epochs):
            for size in sizes:
                r = x0 @ ww + bb - y0
                ww, bb = ww - lr * 2 * r * x0 * size / batch_size, bb - lr * 2 * r * size / batch_size
        if is_close((w, b), (ww, bb), rtol=1e-9, atol=1e-12):
            fail("the last batch's gradient was divided by batch_size (8), not by its own size (2)")
        assert_close((w, b), (want_w, want_b), what="(w, b) after 2 epochs of 7 batches")
    want = [sum(loss for loss, _ in epoch) / len(epoch) for epoch in per_batch]
    # the loss after each step is the loss before the next one (and, at the end, at the returned w, b)
    after = [loss for epoch in per_batch for loss, _ in epoch][1:] + [float((x0 @ want_w + want_b - y0) ** 2)]
    assert_close(
        torch.tensor(losses, dtype=torch.float64),
        torch.tensor(want, dtype=torch.float64),
        what="losses (one per epoch)",
        rtol=1e-9,
        atol=1e-12,
        mistakes={
            "the epoch's loss is its last batch's loss, not the mean over its batches": torch.tensor(
                [epoch[-1][0] for epoch in per_batch], dtype=torch.float64
            ),
            "the epoch's loss is the sum of its batch losses, not their mean": torch.tensor(
                [sum(loss for loss, _ in epoch) for epoch in per_batch], dtype=torch.float64
            ),
            "the epoch's loss is averaged over examples (weighted by batch size), not over batches": torch.tensor(
                [sum(loss * size for loss, size in epoch) / n for epoch in per_batch], dtype=torch.float64
            ),
            "each batch's loss was measured after its step, not before": torch.tensor(
                [sum(after[e * len(sizes) : (e + 1) * len(sizes)]) / len(sizes) for e in range(epochs)],
                dtype=torch.float64,
            ),
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint("w and b start at zero in X's dtype and stay in it: create them from X (e.g. X.new_zeros).")
def test_fit_linear_sgd_keeps_float32(student):
    X, y, _, _ = synthetic(16, 2, seed=9, dtype=torch.float32)
    w, b, _ = unpack(student.run(_fit, X, y, LR, 2, 4, 5))
    for name, value in (("w", w), ("b", b)):
        if value.dtype != X.dtype:
            fail(f"{name} is {value.dtype} for a {X.dtype} X; it must keep X's dtype")
