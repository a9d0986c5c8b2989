"""Decoding a sequence model: teacher forcing, free running (greedy) and beam search.

A sequence model here is an nn.Module called one step at a time:

    logits, state = model(tokens, state)

tokens: LongTensor (N,), the input token of each row at this step; state: whatever the model
returned at the previous step (None at the first step); logits: (N, V) unnormalized scores for the
next token. A language model built from an embedding, a GRU cell and a linear layer has this form.

Training uses *teacher forcing*: the input at step t is the true previous token y[t-1] (the first
input is the start token BOS), whatever the model predicted. At inference there are no targets:
*free running* feeds back the model's own previous prediction. Greedy decoding takes the argmax
at each step; beam search keeps the `beam_size` best partial sequences by total log-probability.
Decoding is inference: it runs in eval mode (dropout off) without recording gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def decode(
    model: nn.Module,
    bos: torch.Tensor,
    steps: int,
    targets: torch.Tensor | None = None,
    eos: int | None = None,
) -> torch.Tensor:
    """Predict `steps` tokens per row, greedily (argmax of the logits at each step).

    bos: LongTensor (N,), the first input of each row.
    targets: LongTensor (N, >= steps) or None. With targets (teacher forcing) the input at step
        t > 0 is targets[:, t - 1]; without (free running) it is the prediction of step t - 1.
    eos: a token id or None. Once a row has predicted eos, its later positions hold eos; decoding
        stops early when every row has predicted eos (the result then has fewer than `steps` columns).
    Returns: LongTensor (N, steps) (or fewer columns, with eos) of predictions.
    The model runs in eval mode without gradients, and is left in the mode it was in.
    """
    # TODO: eval mode and no gradients, restoring the model's mode afterwards (whatever happens).
    # TODO: at each step, choose the input (BOS, the previous target, or the previous prediction).
    # TODO: with eos, rows that are done stay eos; stop when every row is done.
    ### BEGIN SOLUTION
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            tokens, state = bos, None
            done = torch.zeros(bos.shape[0], dtype=torch.bool, device=bos.device)
            predictions = []
            for t in range(steps):
                logits, state = model(tokens, state)
                pred = logits.argmax(dim=-1)
                if eos is not None:
                    pred = torch.where(done, torch.full_like(pred, eos), pred)
                    done = done | (pred == eos)
                predictions.append(pred)
                if eos is not None and bool(done.all()):
                    break
                tokens = targets[:, t] if targets is not None else pred
            return torch.stack(predictions, dim=1)
    finally:
        model.train(was_training)
    ### END SOLUTION


def sequence_nll(model: nn.Module, bos: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The teacher-forced training loss: mean cross-entropy of every target token.

    bos: LongTensor (N,); targets: LongTensor (N, T). Step t gets input BOS (t = 0) or
    targets[:, t - 1] and is scored on predicting targets[:, t].
    Returns: a 0-d tensor, the mean over the N·T tokens, differentiable with respect to the model.
    The model's mode is not changed (training uses it in train mode).
    """
    # TODO: one step per target token, inputs shifted by one; collect the logits, one loss at the end.
    ### BEGIN SOLUTION
    tokens, state = bos, None
    all_logits = []
    for t in range(targets.shape[1]):
        logits, state = model(tokens, state)
        all_logits.append(logits)
        tokens = targets[:, t]
    return F.cross_entropy(torch.stack(all_logits, dim=2), targets)
    ### END SOLUTION


def beam_search(
    model: nn.Module, bos: int, beam_size: int, max_len: int, eos: int, length_norm: bool = False
) -> tuple[list[int], float]:
    """The best sequence found by beam search, and its score.

    A hypothesis is a list of generated tokens (BOS excluded) with its score, the sum of the
    log-probabilities (log_softmax of the logits) of its tokens, and the model state after it.
    It starts as [] with score 0 and state None; the model is called on one hypothesis at a time,
    model(LongTensor([last token or bos]), state), so its logits have shape (1, V).
    At each step, every unfinished hypothesis is extended by every token; of all these candidates
    the beam_size best by score are kept (ties: the earlier hypothesis, then the smaller token).
    A kept candidate ending in eos is finished: it is set aside and never extended again, so the
    next step extends fewer hypotheses. After max_len steps, the unfinished ones count as finished.
    The answer is the finished hypothesis with the highest score, or, when length_norm is True, the
    highest score divided by its number of tokens (the mean log-probability per token; eos counts).
    Returns: (tokens, score) with tokens a list of ints (ending in eos if it finished so) and score a
    float (normalized when length_norm is True). Runs in eval mode without gradients.
    """
    # TODO: keep (tokens, score, state) triples; rank candidates from all hypotheses together.
    # TODO: move finished candidates out of the beam; pick the winner among finished ones, normalized if asked.
    ### BEGIN SOLUTION
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            alive = [([], 0.0, None)]
            finished = []
            for _ in range(max_len):
                if not alive:
                    break
                candidates = []
                for tokens, score, state in alive:
                    last = tokens[-1] if tokens else bos
                    logits, new_state = model(torch.tensor([last]), state)
                    log_probs = F.log_softmax(logits[0].double(), dim=-1)
                    for token, lp in enumerate(log_probs.tolist()):
                        candidates.append((tokens + [token], score + lp, new_state))
                candidates.sort(key=lambda cand: -cand[1])
                alive = []
                for cand in candidates[:beam_size]:
                    (finished if cand[0][-1] == eos else alive).append(cand)
            finished.extend(alive)

            def rank(cand):
                return cand[1] / len(cand[0]) if length_norm else cand[1]

            best = max(finished, key=rank)
            return best[0], float(rank(best))
    finally:
        model.train(was_training)
    ### END SOLUTION
