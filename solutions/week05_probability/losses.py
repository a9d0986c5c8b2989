"""Classification losses from scratch, with torch's names, arguments and numerics.

Each loss is built from elementwise torch operations, so autograd differentiates it and its
gradient is torch's. Three things make a loss usable in practice: it takes the inputs torch's
twin takes (logits, probabilities or log-probabilities: check each docstring), it never
overflows (work in log space and shift before exponentiating), and `reduction` means what it
means in torch: "mean" over the examples that count, "sum", or "none" (one loss per element).
"""

from __future__ import annotations

import torch


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce elementwise losses like torch: "mean" -> 0-d mean, "sum" -> 0-d sum, "none" -> as is.

    Raises ValueError for any other `reduction`.
    """
    # TODO: three cases, and a ValueError that names the allowed values for anything else.
    ### BEGIN SOLUTION
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    ### END SOLUTION


def log_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Log-probabilities log softmax(x)_i = x_i - log sum_j exp(x_j) along `dim`.

    logits: any shape. Returns: the same shape; exp of the result sums to 1 along `dim`.
    Must stay finite for float32 logits of size 1000 (exp(89) already overflows float32).
    """
    # TODO: softmax does not change when the same constant is subtracted from every logit
    #       along `dim`: which constant keeps every exp() <= 1?
    # TODO: stay in log space: never take the log of a probability you computed.
    ### BEGIN SOLUTION
    shift = logits.detach().amax(dim, keepdim=True)
    shifted = logits - shift
    return shifted - torch.log(torch.exp(shifted).sum(dim, keepdim=True))
    ### END SOLUTION


def binary_cross_entropy(probs: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy -[y log p + (1 - y) log(1 - p)] between probabilities and targets.

    probs: probabilities in [0, 1], any shape. target: same shape, values in [0, 1].
    Like torch, each log is clamped below at -100, so a confident wrong answer costs 100, not inf.
    Raises ValueError if any probability is outside [0, 1].
    Returns: a 0-d tensor ("mean", "sum") or a tensor of probs' shape ("none").
    """
    # TODO: validate the input first (torch refuses probabilities outside [0, 1]).
    # TODO: clamp each log before it is multiplied by its target (0·(-inf) is NaN).
    # TODO: then reduce with _reduce.
    ### BEGIN SOLUTION
    if ((probs < 0) | (probs > 1)).any():
        raise ValueError("binary_cross_entropy: all elements of probs must be between 0 and 1")
    log_p = torch.log(probs).clamp(min=-100)
    log_1mp = torch.log(1 - probs).clamp(min=-100)
    loss = -(target * log_p + (1 - target) * log_1mp)
    return _reduce(loss, reduction)
    ### END SOLUTION


def binary_cross_entropy_with_logits(
    logits: torch.Tensor,
    target: torch.Tensor,
    pos_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Binary cross-entropy on logits z, with p = sigmoid(z): -[w·y log σ(z) + (1 - y) log(1 - σ(z))].

    logits: any shape. target: same shape, values in [0, 1].
    pos_weight: None (w = 1) or a tensor broadcastable to the last dim (one weight per class)
    that weights the positive term.
    Must be finite and exact for float32 logits of ±1000 (σ(z) rounds to 0 or 1 long before).
    Returns: a 0-d tensor ("mean", "sum") or a tensor of logits' shape ("none").
    """
    # TODO: never compute σ(z) and then its log: write log σ(z) and log(1 - σ(z)) directly in
    #       terms of z (note 1 - σ(z) = σ(-z), and -log σ(z) = log(1 + e^(-z))).
    # TODO: find a form in which exp() only sees arguments <= 0 (or use torch.logaddexp).
    ### BEGIN SOLUTION
    zeros = torch.zeros_like(logits)
    neg_log_sig = torch.logaddexp(zeros, -logits)  # -log σ(z)
    neg_log_one_minus_sig = torch.logaddexp(zeros, logits)  # -log(1 - σ(z)) = -log σ(-z)
    pos = target * neg_log_sig
    if pos_weight is not None:
        pos = pos_weight * pos
    loss = pos + (1 - target) * neg_log_one_minus_sig
    return _reduce(loss, reduction)
    ### END SOLUTION


def nll_loss(
    log_probs: torch.Tensor, target: torch.Tensor, ignore_index: int = -100, reduction: str = "mean"
) -> torch.Tensor:
    """Negative log-likelihood of the target classes: -log_probs[n, target[n]].

    log_probs: (N, C) or (N, C, d1, ...) log-probabilities (e.g. from log_softmax), classes in dim 1.
    target: (N,) or (N, d1, ...) class indices in [0, C), or `ignore_index`.
    Elements whose target is `ignore_index` contribute 0 and are left out of the mean's denominator.
    Returns: a 0-d tensor ("mean", "sum") or a tensor of target's shape ("none").
    """
    # TODO: pick, for every element, the log-probability of its target class along dim 1
    #       (torch.gather); ignored targets are not valid indices, so replace them first.
    # TODO: "mean" divides by the number of elements that are not ignored, not by N.
    ### BEGIN SOLUTION
    keep = target != ignore_index
    safe_target = torch.where(keep, target, torch.zeros_like(target))
    picked = log_probs.gather(1, safe_target.unsqueeze(1)).squeeze(1)
    loss = torch.where(keep, -picked, torch.zeros_like(picked))
    if reduction == "mean":
        return loss.sum() / keep.sum()
    return _reduce(loss, reduction)
    ### END SOLUTION


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy between logits and targets, like torch.nn.functional.cross_entropy.

    logits: (N, C) or (N, C, d1, ...) unnormalized scores, classes in dim 1.
    target, either
      - class indices: an integer tensor of shape (N,) or (N, d1, ...), or `ignore_index`;
      - class probabilities: a floating tensor of logits' shape (ignore_index does not apply).
    label_smoothing ε in [0, 1]: the target becomes (1 - ε)·target + ε/C·uniform.
    "mean" averages over the examples (and positions d1, ...) that count: the non-ignored ones
    for class indices, all N·d1·... of them for probability targets.
    Returns: a 0-d tensor ("mean", "sum") or a tensor of shape (N, d1, ...) ("none").
    """
    # TODO: logits are not probabilities: turn them into log-probabilities along the class dim
    #       with your log_softmax.
    # TODO: class indices: your nll_loss gives the (1 - ε) part; the ε/C part is the mean over
    #       classes of -log-probabilities, and ignored elements count for neither part.
    # TODO: probability targets: smooth the target, then -sum target·log-probability over classes.
    ### BEGIN SOLUTION
    num_classes = logits.shape[1]
    log_probs = log_softmax(logits, dim=1)
    if target.dtype.is_floating_point:
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / num_classes
        loss = -(target * log_probs).sum(1)
        return _reduce(loss, reduction)
    nll = nll_loss(log_probs, target, ignore_index=ignore_index, reduction="none")
    keep = target != ignore_index
    smooth = torch.where(keep, -log_probs.sum(1), torch.zeros_like(nll))
    loss = (1 - label_smoothing) * nll + (label_smoothing / num_classes) * smooth
    if reduction == "mean":
        return loss.sum() / keep.sum()
    return _reduce(loss, reduction)
    ### END SOLUTION
