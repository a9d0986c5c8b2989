"""Hidden tests of week 9, attribution.py: saliency maps and FGSM adversarial examples.

A small CNN (conv, batch norm, ReLU, dropout, pooling, linear) is built in a probe from a
state_dict made here; the expected saliency map and adversarial example are computed here with
torch.autograd.grad on the same model in eval mode. The probes also report what the learner's
function left behind: the parameters and their .grad, every submodule's mode, and x.
The "loss increases" test uses a model trained here for a few deterministic steps.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.testing import assert_close, fail, randn, rand_labels

pytestmark = pytest.mark.exercise("attribution")

NUM_CLASSES = 5


def build(channels):
    return nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, NUM_CLASSES),
    ).double()


def model_state(channels, seed):
    """A state_dict with non-trivial batch-norm running statistics."""
    torch.manual_seed(seed)
    model = build(channels)
    with torch.no_grad():
        for step in range(3):
            model(torch.rand(8, channels, 6, 6, generator=torch.Generator().manual_seed(seed + step), dtype=torch.float64) * 3)
    return dict(model.state_dict())


def _attack(m, name, state, x, label, eps, modes):
    """Run the learner's saliency_map or fgsm on the probe's model; report what it left behind."""
    channels = x.shape[1]
    model = nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 5),
    ).double()
    model.load_state_dict(state)
    for module, training in zip(model.modules(), modes):
        module.training = training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x_before = x.clone()
    torch.manual_seed(123)
    if name == "saliency_map":
        result = m.saliency_map(model, x, label)
    else:
        result = m.fgsm(model, x, label, eps)
    after = model.state_dict()
    return {
        "result": result.detach() if isinstance(result, torch.Tensor) else result,
        "result_requires_grad": bool(getattr(result, "requires_grad", False)),
        "changed": sorted(k for k in before if not torch.equal(before[k], after[k])),
        "grads": sorted(n for n, p in model.named_parameters() if p.grad is not None),
        "modes": [module.training for module in model.modules()],
        "x_changed": not torch.equal(x, x_before),
        "x_requires_grad": x.requires_grad,
    }


def input_grad(state, x, objective):
    model = build(x.shape[1])
    model.load_state_dict(state)
    model.eval()
    leaf = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(objective(model(leaf)), leaf)
    return grad


def train_mode_grad(state, x, objective):
    model = build(x.shape[1])
    model.load_state_dict(state)
    model.train()
    torch.manual_seed(123)
    leaf = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(objective(model(leaf)), leaf)
    return grad


def target_score(target):
    return lambda scores: scores.gather(1, target[:, None]).sum()


def ce(y):
    return lambda scores: F.cross_entropy(scores, y)


ALL_TRAIN = [True] * 8
MIXED = [True, True, False, True, True, False, True, True]  # batch norm and pooling frozen in eval
ALL_EVAL = [False] * 8

SHAPES = [(1, 3, 6, 6), (4, 1, 7, 5), (3, 2, 8, 8)]


def check_side_effects(got, modes):
    if got["changed"]:
        fail(f"the model's state changed ({', '.join(got['changed'])}): run it in eval mode, which updates nothing")
    if got["grads"]:
        fail(f"parameters were left with a .grad ({', '.join(got['grads'][:3])}): take the gradient with respect to x only")
    if got["modes"] != modes:
        fail("the model's modes were not restored: every submodule must be back in the mode it was in")
    if got["x_changed"] or got["x_requires_grad"]:
        fail("x was changed (its values or requires_grad): work on a detached copy")


# --- saliency_map -------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("The gradient of each example's target score with respect to its pixels; absolute value; max over the channels.")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_saliency_map_matches_autograd(student, shape):
    state = model_state(shape[1], 1)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    target = rand_labels(shape[0], num_classes=NUM_CLASSES, seed=3)
    got = student.run(_attack, "saliency_map", state, x, target, None, ALL_EVAL)
    grad = input_grad(state, x, target_score(target))
    want = grad.abs().amax(dim=1)
    mistakes = {"the absolute value is missing: large negative gradients matter too": grad.amax(dim=1)}
    if shape[1] > 1:  # over one channel the max is the sum and the mean
        mistakes["summed over the channels instead of the max"] = grad.abs().sum(dim=1)
        mistakes["averaged over the channels instead of the max"] = grad.abs().mean(dim=1)
    mistakes["the gradient of the loss, not of the target's score"] = input_grad(state, x, ce(target)).abs().amax(dim=1)
    assert_close(got["result"], want, what="saliency map", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint(
    "Switch to eval mode for the computation and put every submodule back in its mode afterwards; "
    "differentiate with respect to a detached copy of x only, so the parameters get no .grad."
)
@pytest.mark.parametrize("modes", [ALL_TRAIN, MIXED], ids=["train_mode", "mixed_modes"])
def test_saliency_map_uses_eval_mode_and_leaves_no_trace(student, modes):
    shape = (3, 2, 6, 6)
    state = model_state(2, 4)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    target = rand_labels(3, num_classes=NUM_CLASSES, seed=6)
    got = student.run(_attack, "saliency_map", state, x, target, None, modes)
    check_side_effects(got, modes)
    want = input_grad(state, x, target_score(target)).abs().amax(dim=1)
    wrong = train_mode_grad(state, x, target_score(target)).abs().amax(dim=1)
    assert_close(
        got["result"], want, what="saliency map of a model given in train mode",
        mistakes={"computed in train mode (batch statistics, dropout on): use eval mode": wrong},
    )


# --- fgsm ---------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("One step of size eps along the SIGN of the loss gradient with respect to x, then clamp the image to [0, 1].")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_fgsm_matches_autograd(student, shape):
    state = model_state(shape[1], 7)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    y = rand_labels(shape[0], num_classes=NUM_CLASSES, seed=9)
    eps = 0.1
    got = student.run(_attack, "fgsm", state, x, y, eps, ALL_EVAL)
    grad = input_grad(state, x, ce(y))
    want = (x + eps * grad.sign()).clamp(0, 1)
    assert_close(
        got["result"],
        want,
        what="fgsm",
        mistakes={
            "stepped against the gradient: an attack INCREASES the loss": (x - eps * grad.sign()).clamp(0, 1),
            "not clamped to [0, 1]": x + eps * grad.sign(),
            "used the raw gradient, not its sign": (x + eps * grad).clamp(0, 1),
        },
    )
    if got["result_requires_grad"]:
        fail("the adversarial example still requires grad: return a detached tensor")


@pytest.mark.points(2)
@pytest.mark.hint("Every pixel moves by at most eps, and the result stays a valid image in [0, 1].")
@pytest.mark.parametrize("eps", [0.0, 0.03, 0.5], ids=lambda e: f"eps{e}")
def test_fgsm_perturbation_is_within_eps_and_in_range(student, eps):
    shape = (4, 3, 5, 5)
    state = model_state(3, 10)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    y = rand_labels(4, num_classes=NUM_CLASSES, seed=12)
    got = student.run(_attack, "fgsm", state, x, y, eps, ALL_EVAL)["result"]
    if not isinstance(got, torch.Tensor) or got.shape != x.shape:
        assert_close(got, x, what="fgsm")
    if (got - x).abs().max() > eps + 1e-12:
        fail(f"a pixel moved by {float((got - x).abs().max()):.3g}, more than eps = {eps}")
    if got.min() < 0 or got.max() > 1:
        fail(f"values outside [0, 1]: min {float(got.min()):.3g}, max {float(got.max()):.3g}")
    assert_close(got, (x + eps * input_grad(state, x, ce(y)).sign()).clamp(0, 1), what=f"fgsm with eps={eps}")


@pytest.mark.points(2)
@pytest.mark.hint("Eval mode for the attack, every module's mode restored, no .grad on the parameters, x untouched.")
@pytest.mark.parametrize("modes", [ALL_TRAIN, MIXED], ids=["train_mode", "mixed_modes"])
def test_fgsm_uses_eval_mode_and_leaves_no_trace(student, modes):
    shape = (2, 3, 6, 6)
    state = model_state(3, 13)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(14), dtype=torch.float64)
    y = rand_labels(2, num_classes=NUM_CLASSES, seed=15)
    got = student.run(_attack, "fgsm", state, x, y, 0.05, modes)
    check_side_effects(got, modes)
    assert_close(got["result"], (x + 0.05 * input_grad(state, x, ce(y)).sign()).clamp(0, 1), what="fgsm of a model given in train mode")


def trained_state():
    """A 2-class model trained here: class 0 has a bright top half, class 1 a bright bottom half."""
    g = torch.Generator().manual_seed(16)
    y = torch.arange(64) % 2
    x = torch.rand(64, 1, 6, 6, generator=g, dtype=torch.float64) * 0.4
    x[y == 0, :, :3] += 0.5
    x[y == 1, :, 3:] += 0.5
    torch.manual_seed(17)
    model = build(1)
    params = list(model.parameters())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only spins on a busy machine
    try:
        for _ in range(40):  # plain gradient descent
            grads = torch.autograd.grad(F.cross_entropy(model(x), y), params)
            with torch.no_grad():
                for param, grad in zip(params, grads):
                    param -= 0.5 * grad
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return dict(model.state_dict()), x, y


@pytest.mark.points(2)
@pytest.mark.hint("The attack moves x in the direction that increases the loss the fastest; check the sign of the step.")
def test_fgsm_increases_the_loss_of_a_trained_model(student):
    state, x, y = trained_state()
    model = build(1)
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        clean = F.cross_entropy(model(x), y)
        accuracy = (model(x).argmax(1) == y).double().mean()
    assert clean < 0.3 and accuracy > 0.95, "the test's model did not train"  # the test's own sanity check
    got = student.run(_attack, "fgsm", state, x, y, 0.1, ALL_EVAL)["result"]
    if not isinstance(got, torch.Tensor) or got.shape != x.shape:
        assert_close(got, x, what="fgsm")
    with torch.no_grad():
        attacked = F.cross_entropy(model(got), y)
    if not attacked > clean:
        fail(f"the loss went from {float(clean):.4f} to {float(attacked):.4f} after the attack: it must increase")
    assert_close(got, (x + 0.1 * input_grad(state, x, ce(y)).sign()).clamp(0, 1), what="fgsm on the trained model")
