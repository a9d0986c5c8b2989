"""Hidden tests of week 12, autoencoder.py: corruption, masked reconstruction loss, the denoising loss.

The corruption is random, and a learner may consume the generator's stream in any order, so
corrupt() is judged by statistics (noise mean and spread, fraction hidden) and by the contract
that the given generator is the only source of randomness. Generators cannot cross the
transport: probes build them from a seed. The losses are compared with F.mse_loss on the
selected entries; the denoising loss is recomputed in the probe from the learner's own corrupt()
with the same seed, so a bug in corrupt() does not fail it twice.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.testing import SHAPES, assert_close, fail, randn

pytestmark = pytest.mark.exercise("autoencoder")

STAT_SHAPES = [(1, 4000), (63, 65), (2, 40, 50)]


def _corrupt(m, x, kind, level, seed):
    return m.corrupt(x, kind, level, torch.Generator().manual_seed(seed))


def _corrupt_randomness(m, x, kind, level):
    saved = torch.get_rng_state()
    try:
        torch.manual_seed(2024)
        first_gen = torch.Generator().manual_seed(5)
        before = first_gen.get_state()
        first = m.corrupt(x, kind, level, first_gen)
        advanced = not torch.equal(before, first_gen.get_state())
        global_untouched = torch.equal(torch.get_rng_state(), torch.manual_seed(2024).get_state())
        again = m.corrupt(x, kind, level, torch.Generator().manual_seed(5))
        other = m.corrupt(x, kind, level, torch.Generator().manual_seed(6))
    finally:
        torch.set_rng_state(saved)
    return {"first": first, "again": again, "other": other, "advanced": advanced, "global_untouched": global_untouched}


def _corrupt_unknown_kind(m, x):
    try:
        m.corrupt(x, "salt", 0.5, torch.Generator().manual_seed(0))
    except ValueError:
        return "ValueError"
    return "nothing"


def _masked_loss_grad(m, x_hat, target, mask):
    leaf = x_hat.clone().requires_grad_()
    loss = m.recon_loss(leaf, target, mask)
    loss.backward()
    return loss.detach(), leaf.grad


def _denoising_case(m, x, kind, level, seed):
    torch.manual_seed(11)
    model = nn.Sequential(nn.Linear(x.shape[-1], 4), nn.Tanh(), nn.Linear(4, x.shape[-1])).double()
    got = m.denoising_loss(model, x, kind, level, torch.Generator().manual_seed(seed))
    grads = torch.autograd.grad(got, list(model.parameters()), allow_unused=True)
    with torch.no_grad():
        noisy, where = m.corrupt(x, kind, level, torch.Generator().manual_seed(seed))
        out = model(noisy)
        sel = where if kind == "mask" else torch.ones_like(where)
        count = max(int(sel.sum()), 1)
        right = ((out - x) ** 2 * sel).sum() / count
        noisy_target = ((out - noisy) ** 2 * sel).sum() / count
        clean_input = ((model(x) - x) ** 2 * sel).sum() / count
        every_entry = ((out - x) ** 2).mean()
    scored = ((model(noisy) - x) ** 2 * sel).sum() / count
    want_grads = torch.autograd.grad(scored, list(model.parameters()))
    return {
        "got": got.detach(),
        "right": right,
        "noisy_target": noisy_target,
        "clean_input": clean_input,
        "every_entry": every_entry,
        "grads": [g if g is None else g.detach() for g in grads],
        "want_grads": list(want_grads),
        "hidden": int(where.sum()),
    }


# --- corrupt --------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Gaussian corruption adds level·ε with ε ~ N(0, 1) to every entry: level is the noise's standard deviation. "
    "Keep x's shape and dtype."
)
@pytest.mark.parametrize("shape", STAT_SHAPES, ids=str)
def test_corrupt_gaussian_noise_has_mean_zero_and_std_level(student, shape):
    level = 0.5
    x = randn(*shape, seed=1, dtype=torch.float32)
    noisy, mask = student.run(_corrupt, x, "gaussian", level, 3)
    assert_close(noisy, x, atol=10.0, what="x_tilde")  # shape and dtype class first
    if noisy.dtype != x.dtype:
        fail(f"x_tilde should keep x's dtype {x.dtype}, got {noisy.dtype}")
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != x.shape:
        fail(f"the mask should be a bool tensor of x's shape {tuple(x.shape)}")
    if not bool(mask.all()):
        fail("for 'gaussian' every entry is corrupted: the mask should be True everywhere")
    noise = (noisy - x).double()
    n = noise.numel()
    if abs(float(noise.mean())) > 5 * level / n**0.5:
        fail(f"the noise has mean {float(noise.mean()):.3g}, far from 0: is it drawn from N(0, 1)?")
    spread = float(noise.std())
    assert_close(
        spread,
        level,
        rtol=8 / n**0.5,
        atol=0.0,
        what="standard deviation of x_tilde - x",
        mistakes={
            "the noise's standard deviation is level²: level is already a standard deviation": level**2,
            "the noise's standard deviation is √level: level is a standard deviation, not a variance": level**0.5,
            "the noise is uniform (torch.rand), not Gaussian": level / 12**0.5,
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "Hide each entry independently with probability level: hidden entries become 0 and the mask is True exactly there."
)
@pytest.mark.parametrize("shape", STAT_SHAPES, ids=str)
def test_corrupt_mask_hides_a_fraction_level_of_the_entries(student, shape):
    level = 0.3
    x = randn(*shape, seed=2) + 5.0  # no entry is 0 already
    noisy, mask = student.run(_corrupt, x, "mask", level, 4)
    assert_close(noisy, x, atol=100.0, what="x_tilde")
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != x.shape:
        fail(f"the mask should be a bool tensor of x's shape {tuple(x.shape)}")
    if bool((noisy[mask] != 0).any()):
        if bool((noisy[~mask] == 0).all()):
            fail("the mask is True on the kept entries: it should be True on the hidden ones")
        fail("some entries where the mask is True were not set to 0")
    assert_close(noisy[~mask], x[~mask], what="the entries that were not hidden")
    n = x.numel()
    assert_close(
        float(mask.double().mean()),
        level,
        atol=5 * (level * (1 - level) / n) ** 0.5,
        rtol=0.0,
        what="fraction of hidden entries",
        mistakes={"hid a fraction 1 - level of the entries: level is the probability of hiding": 1 - level},
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "Pass generator= to every random call: the same seed must give the same corruption, and the global "
    "random state (torch.manual_seed) must not be used."
)
@pytest.mark.parametrize("kind", ["gaussian", "mask"])
def test_corrupt_draws_only_from_the_generator(student, kind):
    x = randn(6, 7, seed=3)
    got = student.run(_corrupt_randomness, x, kind, 0.4)
    if not got["global_untouched"]:
        fail("the global random state changed: draw from the generator passed in, not from torch's default one")
    if not got["advanced"]:
        fail("the generator passed in was not used")
    assert_close(got["again"][0], got["first"][0], what="x_tilde for the same seed")
    if torch.equal(got["first"][0], got["other"][0]):
        fail("two different seeds gave the same corruption")


@pytest.mark.points(1)
@pytest.mark.hint("With level 0 nothing is corrupted: no noise, and no entry hidden (an all-False mask).")
@pytest.mark.parametrize("kind", ["gaussian", "mask"])
def test_corrupt_with_level_zero_changes_nothing(student, kind):
    x = randn(1, 5, seed=4)
    noisy, mask = student.run(_corrupt, x, kind, 0.0, 7)
    assert_close(noisy, x, what="x_tilde with level 0")
    if kind == "mask" and bool(mask.any()):
        fail("level 0 hid some entries: no entry should be hidden")


@pytest.mark.points(1)
@pytest.mark.hint("Only 'gaussian' and 'mask' are corruptions; say so with a ValueError for anything else.")
def test_corrupt_rejects_an_unknown_kind(student):
    raised = student.run(_corrupt_unknown_kind, randn(2, 3, seed=5))
    if raised != "ValueError":
        fail(f"kind='salt' gave {raised}, expected a ValueError")


# --- recon_loss -----------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("Without a mask the loss is the mean of the squared errors over every entry.")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_recon_loss_without_mask_is_the_mean_squared_error(student, shape):
    out, clean = randn(*shape, seed=6), randn(*shape, seed=7)
    want = F.mse_loss(out, clean)
    assert_close(
        student.recon_loss(out, clean),
        want,
        mistakes={
            "summed the squared errors instead of averaging them": F.mse_loss(out, clean, reduction="sum"),
            "absolute errors, not squared errors": F.l1_loss(out, clean),
            "the square root of the mean squared error (RMSE)": want.sqrt(),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "With a mask, average the squared errors over the masked entries only: divide by how many entries are masked."
)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_recon_loss_with_mask_averages_over_the_masked_entries(student, shape):
    out, clean = randn(*shape, seed=8), randn(*shape, seed=9)
    selector = torch.rand(shape, generator=torch.Generator().manual_seed(10)) < 0.5
    selector.view(-1)[0], selector.view(-1)[-1] = True, False  # some masked, some not
    want = F.mse_loss(out[selector], clean[selector])
    assert_close(
        student.recon_loss(out, clean, selector),
        want,
        mistakes={
            "divided by the number of all entries, not by the number of masked ones": (
                F.mse_loss(out[selector], clean[selector], reduction="sum") / out.numel()
            ),
            "averaged over the entries that are not masked": F.mse_loss(out[~selector], clean[~selector]),
            "summed over the masked entries without dividing by their number": F.mse_loss(
                out[selector], clean[selector], reduction="sum"
            ),
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint("An empty mask has nothing to average: the loss is 0 (not 0/0), and so is its gradient.")
def test_recon_loss_with_an_empty_mask_is_zero_not_nan(student):
    out, clean = randn(3, 4, seed=11), randn(3, 4, seed=12)
    value, grad = student.run(_masked_loss_grad, out, clean, torch.zeros(3, 4, dtype=torch.bool))
    if isinstance(value, torch.Tensor) and torch.isnan(value).any():
        fail("NaN for an all-False mask: 0 masked entries make the average 0/0")
    assert_close(value, torch.tensor(0.0, dtype=torch.float64), what="loss with an empty mask")
    if grad is None:
        fail("no gradient reached x_hat: build the loss from torch operations on x_hat")
    assert_close(grad, torch.zeros(3, 4, dtype=torch.float64), what="gradient with an empty mask")


@pytest.mark.points(1)
@pytest.mark.hint("Build the loss from torch operations on x_hat so autograd can differentiate it.")
@pytest.mark.parametrize("masked", [False, True], ids=["no_mask", "mask"])
def test_recon_loss_gradient_matches_autograd(student, masked):
    out, clean = randn(2, 3, 5, seed=13), randn(2, 3, 5, seed=14)
    selector = torch.rand(2, 3, 5, generator=torch.Generator().manual_seed(15)) < 0.4 if masked else None
    leaf = out.clone().requires_grad_()
    ref = F.mse_loss(leaf[selector], clean[selector]) if masked else F.mse_loss(leaf, clean)
    (want,) = torch.autograd.grad(ref, leaf)
    _, grad = student.run(_masked_loss_grad, out, clean, selector)
    if grad is None:
        fail("no gradient reached x_hat: build the loss from torch operations on x_hat")
    assert_close(grad, want, what="gradient of the loss with respect to x_hat")


# --- denoising_loss -------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "The model sees the corrupted input, and its output is scored against the clean x; for 'mask' only the hidden "
    "entries count."
)
@pytest.mark.parametrize("kind", ["gaussian", "mask"])
@pytest.mark.parametrize("rows", [1, 9])
def test_denoising_loss_scores_the_reconstruction_against_the_clean_input(student, kind, rows):
    x = randn(rows, 6, seed=16 + rows)
    case = student.run(_denoising_case, x, kind, 0.5, 21)
    mistakes = {
        "the target is the corrupted input: score the reconstruction against the clean x": case["noisy_target"],
        "the model was given the clean x: it should see the corrupted input": case["clean_input"],
    }
    if kind == "mask":
        mistakes["averaged over every entry: for 'mask' only the hidden entries count"] = case["every_entry"]
    assert_close(case["got"], case["right"], what=f"denoising loss ({kind})", mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint("Return the loss as a tensor built from the model's output, so gradients reach its parameters.")
@pytest.mark.parametrize("kind", ["gaussian", "mask"])
def test_denoising_loss_gradients_reach_the_model(student, kind):
    case = student.run(_denoising_case, randn(5, 6, seed=22), kind, 0.5, 23)
    if any(g is None for g in case["grads"]):
        fail("some of the model's parameters received no gradient from the loss")
    assert_close(case["grads"], case["want_grads"], what="gradients of the model's parameters")
