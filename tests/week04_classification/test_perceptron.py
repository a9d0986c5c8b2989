"""Hidden tests of week 4, perceptron.py: the perceptron update rule.

The perceptron is deterministic once the presentation order is fixed (the order of the rows of
X) and the boundary case is settled (y·(w·x + b) = 0 is a mistake), so its weights and its
number of updates are compared with the reference's, on separable and non-separable data. On
separable data it must end with every training sample strictly on the right side.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import assert_close, fail, generator

pytestmark = pytest.mark.exercise("perceptron")


def separable(n: int, d: int, seed: int, margin: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """n points in d dims at distance >= margin from a random hyperplane, labelled ±1 by its side.

    The cloud sits away from the origin, so the bias matters and training takes several epochs.
    """
    g = generator(seed)
    normal = torch.randn(d, generator=g, dtype=torch.float64)
    normal = normal / normal.norm()
    center = 3 * torch.randn(d, generator=g, dtype=torch.float64)
    candidates = center + 2 * torch.randn(8 * n, d, generator=g, dtype=torch.float64)
    distance = (candidates - center) @ normal + 0.5 * torch.randn((), generator=g, dtype=torch.float64)
    keep = distance.abs() >= margin
    return candidates[keep][:n], torch.sign(distance[keep][:n])


def random_labels(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n points with labels ±1 drawn independently of them: not separable."""
    g = generator(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    return X, 2 * torch.randint(0, 2, (n,), generator=g).double() - 1


def train(student, X, y, epochs):
    """The learner's (w, b, updates), or a failure if the result is not a triple."""
    got = student.perceptron(X, y, epochs)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        fail("perceptron must return a tuple (w, b, updates)")
    return got


CASES = {
    "separable, 2-D": lambda: (*separable(40, 2, seed=4), 100),  # 19 epochs, 232 updates
    "separable, 6-D, integer labels": lambda: (separable(31, 6, seed=2)[0], separable(31, 6, seed=2)[1].long(), 100),
    "not separable, 4 epochs": lambda: (*random_labels(25, 3, seed=3), 4),
}


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Start from w = 0, b = 0; visit the samples in their order, every epoch; a sample with y·(w·x + b) <= 0 is a "
    "mistake and only a mistake updates: w += y·x, b += y."
)
@pytest.mark.parametrize("case", list(CASES))
def test_perceptron_matches_the_reference_update_for_update(student, reference, case):
    X, y, epochs = CASES[case]()
    w, b, updates = train(student, X, y, epochs)
    want_w, want_b, want_updates = reference.perceptron(X, y, epochs)
    n = len(y)
    if updates == n * epochs and want_updates != n * epochs:
        fail(f"{updates} updates = N·epochs: updated on every sample, not only on mistakes")
    if updates == 0:
        fail("no update at all: a sample with w·x + b = 0 must count as a mistake (all of them, at the start)")
    if isinstance(b, torch.Tensor) and b.numel() == 1 and b.item() == 0 and want_b.item() != 0:
        fail("b never changed: a mistake updates the bias too (b += y)")
    assert_close(updates, want_updates, what="number of updates")
    assert_close(w, want_w, what="w")
    assert_close(b, want_b, what="b")


@pytest.mark.points(2)
@pytest.mark.hint(
    "On separable data the perceptron stops making mistakes after finitely many updates; keep passing over the data "
    "until an epoch has no mistake (or the epochs run out)."
)
def test_perceptron_classifies_every_training_sample_of_separable_data(student):
    X, y = separable(60, 3, seed=4)
    w, b, _ = train(student, X, y, 300)
    if not (isinstance(w, torch.Tensor) and isinstance(b, torch.Tensor) and w.shape == (3,) and b.shape == ()):
        fail("w must be a (D,) tensor and b a 0-d tensor")
    margins = y * (X @ w.double() + b.double())
    wrong = int((margins <= 0).sum())
    if wrong:
        fail(f"{wrong} of {len(y)} training samples still on the wrong side (or on the boundary) after training")


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Read the convention: y·(w·x + b) <= 0 is a mistake, so a sample exactly on the boundary triggers an update, "
    "including every sample at the start, when w = 0 and b = 0."
)
def test_a_sample_exactly_on_the_boundary_is_a_mistake(student, reference):
    # the second sample lands exactly on the boundary after the first update: w = (1, 0), b = 1
    X = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    w, b, updates = train(student, X, y, 5)
    want = reference.perceptron(X, y, 5)
    if updates == 0:
        fail("no update at all: w·x + b = 0 was treated as correct, but a sample on the boundary is a mistake")
    if updates < want[2]:
        fail(f"{updates} updates, expected {want[2]}: a sample with w·x + b = 0 in the middle of training was skipped")
    assert_close([w, b, updates], list(want), what="(w, b, updates)")


@pytest.mark.points(2)
@pytest.mark.hint(
    "The perceptron is mistake-driven: a sample that is already on the right side, with y·(w·x + b) > 0, changes "
    "nothing."
)
def test_only_mistakes_update_the_weights(student, reference):
    X = torch.tensor([[1.0, 0.0], [2.0, 0.5], [3.0, -0.5], [0.5, 1.0]], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, 1.0, 1.0], dtype=torch.float64)  # one update (the first sample) settles it
    w, b, updates = train(student, X, y, 3)
    want = reference.perceptron(X, y, 3)
    if updates == len(y) * 3:
        fail(f"{updates} updates = N·epochs: updated on every sample, not only on mistakes")
    assert_close([w, b, updates], list(want), what="(w, b, updates)")
