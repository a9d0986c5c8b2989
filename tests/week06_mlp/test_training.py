"""Hidden tests of week 6, training.py: a hand-written backward pass and SGD on two moons.

loss_and_grads is compared with autograd through the same network written with F.linear, F.relu
and F.cross_entropy, on a batch of one, odd sizes and a deeper network, and on logits in the
thousands (float32). Training is checked three ways: its first step (steps=1 must equal the
initial parameters minus lr times autograd's gradient at them), its end accuracy (>= 97% on the
training points and on 2,000 fresh points of the same two moons, measured here from the returned
parameters), and its determinism and CPU time (one torch thread, under 3 s). The data and the
initial parameters come from the reference's given make_two_moons and init_params.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, rand_labels, randn

pytestmark = pytest.mark.exercise("training")

TIME_LIMIT = 3.0


def torch_network(params, X):
    h = X
    for layer, (W, b) in enumerate(params):
        h = F.linear(h, W, b)
        if layer < len(params) - 1:
            h = F.relu(h)
    return h


def autograd_loss_and_grads(params, X, y, reduction="mean"):
    leaves = [(W.clone().requires_grad_(), b.clone().requires_grad_()) for W, b in params]
    loss = F.cross_entropy(torch_network(leaves, X), y, reduction=reduction)
    loss.backward()
    return loss.detach(), [(W.grad, b.grad) for W, b in leaves]


def seeded_params(sizes, seed, dtype=torch.float64, scale=1.0):
    return [
        (randn(b, a, seed=seed + 2 * i, dtype=dtype, scale=scale / a**0.5), randn(b, seed=seed + 2 * i + 1, dtype=dtype, scale=0.3))
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
    ]


def accuracy(params, X, y):
    return (torch_network(params, X).argmax(1) == y).double().mean().item()


def _setup(m, seed, n_fresh):
    g = torch.Generator().manual_seed(seed)
    X, y = m.make_two_moons(m.N_POINTS, m.NOISE, g)
    params = m.init_params(m.SIZES, g)
    X_new, y_new = m.make_two_moons(n_fresh, m.NOISE, torch.Generator().manual_seed(seed + 1000))
    return {"X": X, "y": y, "params": params, "X_new": X_new, "y_new": y_new, "lr": m.LR, "steps": m.STEPS}


def _train_timed(m, seed):
    import time

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny problem: on a busy machine, extra threads only spin and burn CPU time
    try:
        start = time.process_time()
        params = m.train_two_moons(seed)
        return params, time.process_time() - start
    finally:
        torch.set_num_threads(threads)


def _train_steps(m, seed, steps):
    return m.train_two_moons(seed, steps=steps)


def _train_twice_under_different_global_seeds(m, seed, steps):
    saved = torch.get_rng_state()
    runs = []
    try:
        for global_seed in (1, 2):
            torch.manual_seed(global_seed)
            runs.append(m.train_two_moons(seed, steps=steps))
    finally:
        torch.set_rng_state(saved)
    return runs


# --- loss_and_grads -------------------------------------------------------------------------------

CASES = {
    "sizes [2, 5, 3], a batch of one": ([2, 5, 3], 1),
    "sizes [4, 7, 6, 3], 9 examples": ([4, 7, 6, 3], 9),
    "sizes [3, 16, 2], 33 examples": ([3, 16, 2], 33),
}


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "Forward layer by layer, keeping each layer's input and pre-activation. Backward: dlogits = (softmax - one_hot(y)) / N, "
    "then for each layer from the last: dW = dzᵀ h, db = dz summed over the rows, and dh = dz W masked by the ReLU."
)
@pytest.mark.parametrize("case", list(CASES))
def test_loss_and_grads_match_autograd(student, case):
    sizes, n = CASES[case]
    params = seeded_params(sizes, seed=1)
    X, y = randn(n, sizes[0], seed=2), rand_labels(n, num_classes=sizes[-1], seed=3)
    want_loss, want_grads = autograd_loss_and_grads(params, X, y)
    _, sum_grads = autograd_loss_and_grads(params, X, y, reduction="sum")
    got = student.loss_and_grads(params, X, y)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(f"loss_and_grads must return (loss, grads), got {type(got).__name__}")
    loss, grads = got
    assert_close(loss, want_loss, what="loss", mistakes={"the loss is summed over the batch, not averaged": want_loss * n} if n > 1 else {})
    if not isinstance(grads, (tuple, list)) or len(grads) != len(params):
        fail(f"grads must be a list of one (dW, db) pair per layer ({len(params)} layers)")
    for k, ((dW, db), (want_dW, want_db)) in enumerate(zip(grads, want_grads)):
        mistakes = {"the gradients are of the summed loss: divide by the batch size N": sum_grads[k][0]} if n > 1 else {}
        assert_close(dW, want_dW, what=f"dW of layer {k + 1} ({case})", mistakes=mistakes)
        assert_close(db, want_db, what=f"db of layer {k + 1} ({case})")


@pytest.mark.points(2)
@pytest.mark.hint("Logits in the thousands overflow exp() in float32; a log-softmax shifted by each row's max never does.")
def test_loss_and_grads_are_finite_for_logits_in_the_thousands(student):
    sizes = [3, 8, 4]
    params = seeded_params(sizes, seed=4, dtype=torch.float32, scale=300.0)
    X, y = randn(6, 3, seed=5, dtype=torch.float32), rand_labels(6, num_classes=4, seed=6)
    want_loss, want_grads = autograd_loss_and_grads(params, X, y)
    loss, grads = student.loss_and_grads(params, X, y)
    if isinstance(loss, torch.Tensor) and not torch.isfinite(loss).all():
        fail(f"loss is {loss.item()} for logits of size ~{torch_network(params, X).abs().max().item():.0f}: exp() overflowed")
    assert_close(loss, want_loss, rtol=1e-4, what="loss for huge logits")
    for k, ((dW, db), (want_dW, want_db)) in enumerate(zip(grads, want_grads)):
        assert_close(dW, want_dW, rtol=1e-4, atol=1e-4, what=f"dW of layer {k + 1} for huge logits")
        assert_close(db, want_db, rtol=1e-4, atol=1e-4, what=f"db of layer {k + 1} for huge logits")


# --- train_two_moons ------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "steps=0 returns the initial parameters untouched; each step moves every parameter against its gradient: "
    "p - lr·dp (minus: SGD goes downhill)."
)
def test_train_two_moons_first_step_is_the_sgd_update(student, reference):
    setup = reference.run(_setup, 3, 10)
    params0, lr = setup["params"], setup["lr"]
    assert_close(student.run(_train_steps, 3, 0), params0, rtol=0, atol=0, what="parameters after 0 steps")
    _, grads = autograd_loss_and_grads(params0, setup["X"], setup["y"])
    want = [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params0, grads)]
    uphill = [(W + lr * dW, b + lr * db) for (W, b), (dW, db) in zip(params0, grads)]
    assert_close(
        student.run(_train_steps, 3, 1),
        want,
        rtol=1e-5,
        atol=1e-6,
        what="parameters after 1 step",
        mistakes={
            "the step went uphill: SGD subtracts lr times the gradient": uphill,
            "the parameters after 1 step are the initial ones: the update was not kept": params0,
        },
    )


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.timeout(20)
@pytest.mark.hint(
    "If the first step is right, training follows: check that every layer is updated at every step and that "
    "the updated parameters are the ones the next step uses."
)
@pytest.mark.parametrize("seed", [0, 7])
def test_train_two_moons_reaches_97_percent_in_under_3_s(student, reference, seed):
    setup = reference.run(_setup, seed, 2000)
    params, seconds = student.run(_train_timed, seed)
    if not all(torch.isfinite(t).all() for pair in params for t in pair):
        fail("the trained parameters are not finite: the steps diverged")
    train_accuracy = accuracy(params, setup["X"], setup["y"])
    fresh_accuracy = accuracy(params, setup["X_new"], setup["y_new"])
    if train_accuracy < 0.97:
        fail(f"training accuracy {train_accuracy:.3f} after {setup['steps']} steps at lr = {setup['lr']}, expected >= 0.97")
    if fresh_accuracy < 0.97:
        fail(f"accuracy {fresh_accuracy:.3f} on 2,000 fresh points of the two moons, expected >= 0.97")
    if seconds > TIME_LIMIT:
        fail(f"training took {seconds:.2f} s of CPU time, expected under {TIME_LIMIT:g} s: vectorize over the batch")


@pytest.mark.points(1)
@pytest.mark.timeout(20)
@pytest.mark.hint("Use only the generator seeded with `seed` (given at the top of train_two_moons); no other randomness.")
def test_train_two_moons_is_deterministic(student):
    first, second = student.run(_train_twice_under_different_global_seeds, 5, 20)
    assert_close(second, first, rtol=0, atol=0, what="parameters of a second run with the same seed")
