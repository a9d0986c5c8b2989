"""Softmax regression: logistic regression for C classes, and two ways to measure a classifier.

Each class c has a weight column W[:, c] and a bias b[c]; a sample x gets C logits x @ W + b,
softmax turns them into class probabilities, and the loss is the mean cross-entropy of the true
classes. Its gradient with respect to the logits is softmax(logits) - one_hot(y) (the same
"prediction minus target" as logistic regression), so gradient descent needs no autograd.
A trained classifier is then judged by its accuracy (the fraction of right predictions) and,
in more detail, by its confusion matrix: which true classes it mistakes for which.
"""

from __future__ import annotations

import torch


def train_softmax_regression(
    X: torch.Tensor, y: torch.Tensor, num_classes: int, lr: float, epochs: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit W and b by gradient descent on the mean cross-entropy of softmax(X @ W + b) and y.

    X: (N, D) floating inputs. y: (N,) class indices in [0, num_classes).
    lr: the learning rate. epochs: the number of passes over the data; each pass may be one
    full-batch step or several shuffled minibatches (your choice).
    generator: the torch.Generator that every random number (initialization, shuffling) must
    come from, so that the same seed gives the same W and b whatever else uses torch's random
    numbers.
    Returns (W, b): W (D, num_classes) and b (num_classes,), of X's dtype. The predicted class
    of a sample x is the argmax of x @ W + b. You may use torch.softmax here.
    """
    # TODO: initialize W and b (zeros are fine: the loss is convex).
    # TODO: for each epoch, for each (mini)batch: the probabilities, the gradient of the mean loss
    #       with respect to the logits, then the chain rule to W and b, and a step downhill.
    # TODO: any shuffling draws from `generator`, never from torch's global random state.
    raise NotImplementedError("train_softmax_regression() is not implemented yet")


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The fraction of predictions equal to their target.

    pred, target: (N,) class indices, N >= 1. Returns: a 0-d floating tensor in [0, 1].
    """
    # TODO: compare elementwise, then turn the booleans into numbers you can average.
    raise NotImplementedError("accuracy() is not implemented yet")


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts of (true class, predicted class) pairs.

    pred, target: (N,) class indices in [0, num_classes); N may be 0.
    Returns: a LongTensor C of shape (num_classes, num_classes) where C[i, j] is the number of
    samples of true class i predicted as class j: rows are true classes, columns predictions, the
    diagonal counts the right answers. The shape does not depend on which classes occur in the
    batch.
    """
    # TODO: one way: give each (true, predicted) pair its own integer in [0, num_classes²), count
    #       how often each integer occurs (torch.bincount; what is its `minlength` for?), reshape.
    raise NotImplementedError("confusion_matrix() is not implemented yet")
