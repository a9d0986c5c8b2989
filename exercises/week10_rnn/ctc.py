"""★ Connectionist temporal classification (CTC): greedy decoding and the forward algorithm.

A speech model emits, at each of T frames, log-probabilities over C symbols, symbol `blank`
(0 here) meaning "nothing". An alignment is one symbol per frame; it reads as a label sequence
by first merging repeated symbols, then removing blanks: "a a - a" reads "a a" (the blank keeps
the two a's apart) and "a a a" reads "a". The probability of a label sequence is the sum over
every alignment that reads as it; CTC's loss is minus its log.

Layout (as F.ctc_loss): log_probs (T, N, C), already log-softmaxed over C.
"""

from __future__ import annotations

import torch


def ctc_greedy_decode(log_probs: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best-path decoding: the most likely symbol at each frame, repeats merged, then blanks removed.

    log_probs: (T, N, C). Returns: one list of label ids (ints) per sequence of the batch.
    """
    # TODO: argmax per frame; a symbol is kept when it differs from the previous frame's and is not blank.
    raise NotImplementedError("ctc_greedy_decode() is not implemented yet")


def ctc_nll(
    log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: torch.Tensor, target_lengths: torch.Tensor
) -> torch.Tensor:
    """−log p(target | input) for each sequence, by the CTC forward algorithm in log space (blank = 0).

    log_probs: (T, N, C); targets: LongTensor (N, S), padded (labels are in 1..C-1);
    input_lengths, target_lengths: LongTensor (N,), the frames and labels of each sequence.
    Returns: (N,) tensor, as F.ctc_loss(..., reduction='none'); +inf when no alignment fits
    (too few frames for the labels and the blanks that must separate repeated ones).
    """
    # TODO: per sequence, the extended label l' = blank, l1, blank, l2, ..., blank (2L + 1 states).
    # TODO: α at frame 0 can be in state 0 or 1; α_t(s) = log-sum-exp of α_{t-1}(s), α_{t-1}(s-1),
    #       and α_{t-1}(s-2) when l'_s is not blank and differs from l'_{s-2}; plus log_probs at l'_s.
    # TODO: the answer ends in one of the last two states. Stay in log space (torch.logsumexp).
    raise NotImplementedError("ctc_nll() is not implemented yet")
