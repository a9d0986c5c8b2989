"""Hidden tests of week 10, ctc.py (★ optional): CTC greedy decoding and the forward algorithm.

Greedy decoding is checked on hand-made frame sequences ("a a – a" reads "a a") and on random
log-probabilities against itertools.groupby. ctc_nll is compared with F.ctc_loss(reduction='none')
on batches with repeated labels, empty targets, input lengths shorter than T, impossible
alignments (+inf) and a long sequence whose probability underflows outside log space.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, rand_logits

pytestmark = pytest.mark.exercise("ctc")


def frames(path, classes=4):
    """log-probabilities (T, 1, C) whose argmax at frame t is path[t]."""
    logits = torch.full((len(path), 1, classes), -3.0, dtype=torch.float64)
    for t, symbol in enumerate(path):
        logits[t, 0, symbol] = 3.0
    return logits.log_softmax(-1)


def best_path_by_groupby(log_probs, blank=0):
    paths = log_probs.argmax(-1).T.tolist()
    return [[symbol for symbol, _ in itertools.groupby(path) if symbol != blank] for path in paths]


def remove_blanks_then_merge(log_probs, blank=0):
    paths = log_probs.argmax(-1).T.tolist()
    return [[symbol for symbol, _ in itertools.groupby([s for s in path if s != blank])] for path in paths]


# --- ctc_greedy_decode ------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("First merge repeated symbols of consecutive frames, then remove the blanks: a blank keeps two equal labels apart.")
@pytest.mark.parametrize(
    "path, labels",
    [([1, 1, 0, 1], [1, 1]), ([1, 1, 1], [1]), ([0, 0, 0], []), ([2, 0, 3, 3, 0, 0, 2], [2, 3, 2]), ([3], [3])],
    ids=["a a - a", "a a a", "all blank", "mixed", "one frame"],
)
def test_ctc_greedy_decode_merges_repeats_then_removes_blanks(student, path, labels):
    log_probs = frames(path)
    got = student.ctc_greedy_decode(log_probs)
    mistakes = {"blanks were removed before merging repeats: 'a a - a' reads 'a a'": remove_blanks_then_merge(log_probs)}
    if got != [labels] and got in mistakes.values():
        fail(next(message for message, wrong in mistakes.items() if wrong == got))
    assert_close(got, [labels], what=f"decoding of frames {path}")


@pytest.mark.points(1)
@pytest.mark.hint("log_probs is (T, N, C): decode each of the N sequences along the time dim 0; blank is an argument.")
@pytest.mark.parametrize("blank", [0, 3])
def test_ctc_greedy_decode_a_random_batch(student, blank):
    log_probs = rand_logits(9, 4, 4, seed=100 + blank).log_softmax(-1)
    got = student.ctc_greedy_decode(log_probs, blank=blank)
    assert_close(got, best_path_by_groupby(log_probs, blank), what=f"decoded batch (blank = {blank})")


# --- ctc_nll ---------------------------------------------------------------------------------------------


def batch(seed, T, N, C, S):
    log_probs = rand_logits(T, N, C, seed=seed, scale=1.5).log_softmax(-1)
    targets = torch.randint(1, C, (N, S), generator=torch.Generator().manual_seed(seed + 1))
    return log_probs, targets


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Between two equal labels the path must visit a blank: the skip from s - 2 to s is allowed only when "
    "l'_s is a label different from l'_{s-2}."
)
@pytest.mark.parametrize("shape", [(1, 1, 3, 1), (12, 4, 5, 4), (20, 3, 6, 5)], ids=str)
def test_ctc_nll_matches_f_ctc_loss(student, shape):
    T, N, C, S = shape
    log_probs, targets = batch(200 + T, T, N, C, S)
    if N > 1:
        targets[1, :2] = 2  # a repeated label needs a blank between its copies
    input_lengths = torch.tensor([T] + [max(S + 2, T - 3 * i) for i in range(1, N)])[:N]
    target_lengths = torch.tensor([S] + [max(1, S - i) for i in range(1, N)])[:N]
    want = F.ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction="none")
    got = student.ctc_nll(log_probs, targets, input_lengths, target_lengths)
    assert_close(got, want, rtol=1e-9, what="CTC negative log-likelihood")


@pytest.mark.points(1)
@pytest.mark.hint("An empty target is read only by the all-blank path; a frame past input_lengths[n] is not part of sequence n.")
def test_ctc_nll_empty_targets_and_short_inputs(student):
    log_probs, targets = batch(300, 10, 3, 4, 3)
    input_lengths, target_lengths = torch.tensor([10, 4, 7]), torch.tensor([0, 2, 3])
    want = F.ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction="none")
    got = student.ctc_nll(log_probs, targets, input_lengths, target_lengths)
    assert_close(
        got,
        want,
        rtol=1e-9,
        what="CTC NLL with an empty target and short inputs",
        mistakes={
            "the frames past input_lengths were used": F.ctc_loss(
                log_probs, targets, torch.full((3,), 10), target_lengths, reduction="none"
            )
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint("With too few frames no alignment reads the target: its probability is 0, its negative log +inf (not NaN).")
def test_ctc_nll_impossible_alignments_are_inf(student):
    log_probs, targets = batch(400, 4, 3, 4, 3)
    targets[0] = torch.tensor([2, 2, 2])  # needs 5 frames (2 - 2 - 2)
    input_lengths, target_lengths = torch.tensor([4, 2, 4]), torch.tensor([3, 3, 2])
    want = F.ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction="none")
    if not (torch.isinf(want[:2]).all() and torch.isfinite(want[2])):
        fail("test set-up: torch disagrees about which alignments are impossible")
    got = student.ctc_nll(log_probs, targets, input_lengths, target_lengths)
    assert_close(got, want, rtol=1e-9, what="CTC NLL with impossible alignments")


@pytest.mark.points(1)
@pytest.mark.hint("Over hundreds of frames the path probabilities underflow to 0: stay in log space (log-sum-exp).")
def test_ctc_nll_long_sequence_stays_finite(student):
    log_probs, targets = batch(500, 400, 1, 30, 20)
    input_lengths, target_lengths = torch.tensor([400]), torch.tensor([20])
    want = F.ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction="none")
    got = student.ctc_nll(log_probs, targets, input_lengths, target_lengths)
    assert_close(got, want, rtol=1e-9, what="CTC NLL over 400 frames")
