"""Hidden tests of week 10, masking.py: sequence_mask, masked_token_ce and last_valid.

The loss is compared with F.cross_entropy(..., ignore_index=-100) on targets whose padding holds
-100, on batches with unsorted lengths, a batch of one, and T = C (where a class dim left in the
wrong place runs silently). Perturbing the padded logits and targets must change neither the loss
nor its gradients, and the padded logits get zero gradient.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, rand_labels, rand_logits, randn

pytestmark = pytest.mark.exercise("masking")

CASES = {  # name: (lengths, T, C)
    "N=1, T=1": ([1], 1, 3),
    "unsorted": ([4, 6, 1, 3], 6, 5),
    "T=C": ([2, 5, 5], 5, 5),
}


def _loss_and_grad(m, logits, targets, lengths):
    logits = logits.clone().requires_grad_()
    loss = m.masked_token_ce(logits, targets, lengths)
    loss.backward()
    return {"loss": loss.detach(), "grad": logits.grad}


def _last_valid_errors(m, outputs, lengths):
    try:
        m.last_valid(outputs, lengths)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:
        return type(error).__name__
    return "no error"


def mask_by_loop(lengths, T):
    return torch.tensor([[step < length for step in range(T)] for length in lengths.tolist()], dtype=torch.bool).view(-1, T)


def padded_batch(case, seed):
    lengths, T, C = CASES[case]
    lengths = torch.tensor(lengths)
    logits = rand_logits(len(lengths), T, C, seed=seed)
    targets = rand_labels(len(lengths), T, num_classes=C, seed=seed + 1)
    return logits, targets, lengths


def torch_masked_ce(logits, targets, lengths):
    ignored = targets.masked_fill(~mask_by_loop(lengths, targets.shape[1]), -100)
    return F.cross_entropy(logits.permute(0, 2, 1), ignored, ignore_index=-100)


# --- sequence_mask ------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("Position t of row n is real when t < lengths[n]: a row of length L has exactly L True values.")
@pytest.mark.parametrize("lengths, T", [([3], 3), ([4, 0, 6, 1, 2], 6), ([1, 1], 1)], ids=["full", "unsorted", "T=1"])
def test_sequence_mask_marks_the_real_positions(student, lengths, T):
    lengths = torch.tensor(lengths)
    got = student.sequence_mask(lengths, T)
    want = mask_by_loop(lengths, T)
    mistakes = {}
    if (lengths < T).any():  # rows as long as T are all True, off by one or not
        mistakes["off by one: a row of length L has L real positions, 0..L-1"] = mask_by_loop(lengths + 1, T)
    assert_close(got, want, what="mask", mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint("The mask is a BoolTensor: comparisons give one directly.")
def test_sequence_mask_is_boolean_with_T_columns(student):
    got = student.sequence_mask(torch.tensor([2, 5]), 7)
    if not isinstance(got, torch.Tensor) or got.dtype != torch.bool:
        kind = got.dtype if isinstance(got, torch.Tensor) else type(got).__name__
        fail(f"a torch.bool mask expected, got {kind}")
    assert_close(got, mask_by_loop(torch.tensor([2, 5]), 7), what="mask with T longer than every sequence")


# --- masked_token_ce ------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Average the token losses over real tokens only; cross_entropy wants the classes in dim 1.")
@pytest.mark.parametrize("case", list(CASES))
def test_masked_token_ce_matches_cross_entropy_with_ignore_index(student, case):
    logits, targets, lengths = padded_batch(case, 100)
    want = torch_masked_ce(logits, targets, lengths)
    per_token = F.cross_entropy(logits.permute(0, 2, 1), targets, reduction="none")
    mask = mask_by_loop(lengths, targets.shape[1])
    mistakes = {}
    if not mask.all():  # no padding, nothing to count by mistake
        mistakes["padding counted in the loss: average over the real tokens only"] = per_token.mean()
    if len(set(lengths.tolist())) > 1:  # sequences of one length: the mean of their means is the mean
        mistakes["the mean of per-sequence means: every real token must count the same"] = (
            (per_token * mask).sum(1) / lengths
        ).mean()
    if mask.sum() > 1:  # a single real token: its sum is its mean
        mistakes["summed over tokens instead of averaged"] = (per_token * mask).sum()
    if logits.shape[1] == logits.shape[2]:
        mistakes["loss over the wrong axis: cross_entropy wants classes in dim 1"] = F.cross_entropy(
            logits, targets.masked_fill(~mask, -100), ignore_index=-100
        )
    assert_close(student.masked_token_ce(logits, targets, lengths), want, what="loss", mistakes=mistakes)


@pytest.mark.points(2)
@pytest.mark.hint("The loss must not see the padding: mask it out of the average, not just out of the count.")
@pytest.mark.parametrize("case", ["unsorted", "T=C"])
def test_masked_token_ce_gradients_match_and_ignore_padding(student, case):
    logits, targets, lengths = padded_batch(case, 200)
    got = student.run(_loss_and_grad, logits, targets, lengths)
    leaf = logits.clone().requires_grad_()
    torch_masked_ce(leaf, targets, lengths).backward()
    assert_close(got["loss"], torch_masked_ce(logits, targets, lengths), what="loss")
    assert_close(got["grad"], leaf.grad, atol=1e-12, what="gradient of the logits")
    mask = mask_by_loop(lengths, targets.shape[1])
    noisy_logits = torch.where(mask.unsqueeze(-1), logits, randn(*logits.shape, seed=210, scale=40.0))
    noisy_targets = torch.where(mask, targets, rand_labels(*targets.shape, num_classes=logits.shape[-1], seed=211))
    perturbed = student.run(_loss_and_grad, noisy_logits, noisy_targets, lengths)
    if not torch.allclose(perturbed["loss"], got["loss"]):
        fail("the loss changes when the padding changes: mask out positions past each length")
    assert_close(perturbed["grad"], got["grad"], atol=1e-12, what="gradient with other padding")


@pytest.mark.points(1)
@pytest.mark.hint("Padded targets may hold any value, even -100 or a number ≥ C: never index with them unmasked.")
def test_masked_token_ce_accepts_any_value_in_padded_targets(student):
    logits, targets, lengths = padded_batch("unsorted", 300)
    mask = mask_by_loop(lengths, targets.shape[1])
    odd = targets.masked_fill(~mask, -100)
    assert_close(student.masked_token_ce(logits, odd, lengths), torch_masked_ce(logits, targets, lengths), what="loss with -100 padding")


# --- last_valid ---------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("Row n's last real output is at t = lengths[n] - 1, not at T - 1; the lengths are in no particular order.")
@pytest.mark.parametrize("lengths, T", [([1], 1), ([3, 7, 1, 5, 7], 7), ([2, 4, 3], 4)], ids=["N=1, T=1", "unsorted", "odd"])
def test_last_valid_takes_t_equal_length_minus_1(student, lengths, T):
    lengths = torch.tensor(lengths)
    outputs = randn(len(lengths), T, 3, seed=400 + T)
    want = torch.stack([outputs[row, length - 1] for row, length in enumerate(lengths.tolist())])
    mistakes = {}
    if (lengths < T).any():  # for rows as long as T, T - 1 is length - 1 (and t = length is past the end)
        mistakes["took the output at T - 1: padding steps come after the last real one"] = outputs[:, -1]
        mistakes["took the output at t = length: the last real step is length - 1"] = outputs[
            torch.arange(len(lengths)), lengths.clamp(max=T - 1)
        ]
    assert_close(student.last_valid(outputs, lengths), want, what="last real outputs", mistakes=mistakes)


def _last_valid_grad(m, outputs, lengths):
    outputs = outputs.clone().requires_grad_()
    m.last_valid(outputs, lengths).sum().backward()
    return outputs.grad


@pytest.mark.points(1)
@pytest.mark.hint("Select with indexing so the gradient flows to exactly one step per row.")
def test_last_valid_gradient_reaches_one_step_per_row(student):
    lengths = torch.tensor([2, 5, 1])
    outputs = randn(3, 5, 2, seed=450)
    got = student.run(_last_valid_grad, outputs, lengths)
    want = torch.zeros(3, 5, 2, dtype=torch.float64)
    for row, length in enumerate(lengths.tolist()):
        want[row, length - 1] = 1.0
    assert_close(got, want, what="gradient of the outputs")


@pytest.mark.points(1)
@pytest.mark.hint("A sequence of length 0 has no last output (and a length above T none in the batch): raise ValueError.")
@pytest.mark.parametrize("lengths", [[3, 0, 2], [3, 5, 2]], ids=["zero", "too_long"])
def test_last_valid_rejects_impossible_lengths(student, lengths):
    outputs = randn(3, 4, 2, seed=500)
    got = student.run(_last_valid_errors, outputs, torch.tensor(lengths))
    if got != "ValueError":
        fail(f"lengths {lengths} with T = 4 gave {got}, expected a ValueError")
