"""Token embeddings and word2vec's skip-gram loss with negative sampling.

An embedding is a lookup table: token id i is represented by row i of a (V, D) matrix W. Looking
rows up is the same as multiplying one-hot vectors by W (one_hot(idx) @ W), only cheaper, and its
gradient is the same: row i receives the sum of the gradients of every position where id i
appears. nn.Embedding's `padding_idx` names one id (the padding token) whose row is returned as
it is but never receives a gradient, so padding never trains.

Skip-gram (word2vec) learns two tables: W_in for centre words and W_out for context words. For a
centre word c with input vector v = W_in[c], a true context word o with output vector u_o =
W_out[o] and K sampled negative words with output vectors u_1..u_K, the loss is

    -log σ(u_o · v) - Σ_k log σ(-u_k · v)

which pulls the true pair's dot product up and pushes the negatives' down. Write log σ with
F.logsigmoid: dot products of ±50 and beyond are common early in training, and log(σ(z)) or
log(1 - σ(z)) turn them into -inf.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def embedding(idx: torch.Tensor, W: torch.Tensor, padding_idx: int | None = None) -> torch.Tensor:
    """The rows of W for the ids in idx, like F.embedding(idx, W, padding_idx=padding_idx).

    idx: an integer tensor of any shape, every id in [0, V). W: (V, D).
    Returns: idx.shape + (D,). padding_idx: None, or an id (negative counts from the end, as in
    nn.Embedding) whose row is returned unchanged but gets no gradient.
    Raises IndexError for an id outside [0, V) (Python's negative indexing does not apply).
    """
    # TODO: reject ids outside [0, V), then look the rows up.
    # TODO: positions holding padding_idx must pass no gradient to W (but keep the row's value).
    ### BEGIN SOLUTION
    num_rows = W.shape[0]
    if idx.numel() and (idx.min() < 0 or idx.max() >= num_rows):
        raise IndexError(f"embedding: ids must be in [0, {num_rows}), got [{int(idx.min())}, {int(idx.max())}]")
    rows = W[idx]
    if padding_idx is None:
        return rows
    if padding_idx < 0:
        padding_idx += num_rows
    is_pad = (idx == padding_idx).unsqueeze(-1)
    return torch.where(is_pad, rows.detach(), rows)
    ### END SOLUTION


def skipgram_neg_loss(
    center: torch.Tensor,
    context: torch.Tensor,
    negatives: torch.Tensor,
    W_in: torch.Tensor,
    W_out: torch.Tensor,
) -> torch.Tensor:
    """Mean over the B examples of -log σ(u_o·v) - Σ_k log σ(-u_k·v) (module docstring).

    center: (B,) ids into W_in (V, D). context: (B,) ids into W_out (V, D). negatives: (B, K) ids
    into W_out. Returns: a 0-d tensor, finite for dot products of any size.
    """
    # TODO: look up v (B, D), u_o (B, D) and the negatives' vectors (B, K, D).
    # TODO: dot products, then F.logsigmoid; sum over the K negatives, mean over the batch.
    ### BEGIN SOLUTION
    v = W_in[center]
    u_pos = W_out[context]
    u_neg = W_out[negatives]
    pos_score = (u_pos * v).sum(-1)
    neg_score = (u_neg * v.unsqueeze(1)).sum(-1)
    loss = -F.logsigmoid(pos_score) - F.logsigmoid(-neg_score).sum(-1)
    return loss.mean()
    ### END SOLUTION
