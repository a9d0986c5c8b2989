"""Hidden tests of week 13, decision_tree.py: Gini and entropy impurity and the best split.

Impurities are compared with torch.distributions.Categorical(probs=counts / n) (its entropy, and
1 − Σp² from its probs); splits with a brute force written here over every midpoint between
consecutive distinct sorted values, on seeded features with repeated values.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical

from grader.testing import assert_close, fail, rand_labels, randn

pytestmark = pytest.mark.exercise("decision_tree")


def dist_of(labels: torch.Tensor) -> Categorical:
    counts = torch.bincount(labels).double()
    return Categorical(probs=counts / counts.sum())


def gini_ref(labels):
    return float(1 - (dist_of(labels).probs ** 2).sum())


def entropy_ref(labels):
    return float(dist_of(labels).entropy())


def brute_force_split(x, y, impurity, weighted=True):
    """(threshold, gain) over all midpoints; the lowest threshold among gains within 1e-9 of the best."""
    distinct = sorted(set(x.tolist()))
    if len(distinct) < 2:
        return None, 0.0
    cands = [(a + b) / 2 for a, b in zip(distinct[:-1], distinct[1:])]
    n = len(y)
    results = []
    for t in cands:
        L, R = y[x <= t], y[x > t]
        wl, wr = (len(L) / n, len(R) / n) if weighted else (0.5, 0.5)
        results.append((t, impurity(y) - wl * impurity(L) - wr * impurity(R)))
    top = max(g for _, g in results)
    return next((t, g) for t, g in results if g >= top - 1e-9)


def feature(n, seed, levels=6):
    """Feature values with repeats (a few distinct levels), in random order."""
    return torch.randint(0, levels, (n,), generator=torch.Generator().manual_seed(seed)).double() * 0.5 - 1


LABEL_SIZES = [1, 7, 40]


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("Gini is 1 minus the sum of the squared class fractions.")
@pytest.mark.parametrize("n", LABEL_SIZES, ids=str)
def test_gini_matches_the_class_fractions(student, n):
    y = rand_labels(n, num_classes=4, seed=n)
    assert_close(student.gini(y), gini_ref(y), what=f"gini of {n} labels")


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("Entropy is −Σ p log p over the classes present, in nats (natural log).")
@pytest.mark.parametrize("n", LABEL_SIZES, ids=str)
def test_entropy_impurity_matches_categorical_entropy(student, n):
    y = rand_labels(n, num_classes=4, seed=10 + n)
    want = entropy_ref(y)
    mistakes = {}
    if len(y.unique()) > 1:  # a pure node has entropy 0 in any base
        mistakes["entropy in bits (log₂), not nats"] = want / math.log(2)
    assert_close(student.entropy_impurity(y), want, what=f"entropy of {n} labels", mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint("A class that does not occur contributes nothing, and a pure node has impurity 0 (no NaN from 0·log 0).")
def test_impurities_of_a_pure_node_with_large_labels(student):
    y = torch.full((5,), 9, dtype=torch.long)
    for name in ("gini", "entropy_impurity"):
        got = getattr(student, name)(y)
        if isinstance(got, float) and math.isnan(got):
            fail(f"{name} of a pure node is NaN: a class that never occurs contributed 0·log 0")
        assert_close(got, 0.0, atol=1e-12, what=f"{name} of a pure node")
    y = torch.tensor([0, 0, 7, 7])
    assert_close(student.gini(y), 0.5, atol=1e-12, what="gini of labels {0, 0, 7, 7}")
    assert_close(student.entropy_impurity(y), math.log(2), atol=1e-12, what="entropy of labels {0, 0, 7, 7}")


@pytest.mark.points(3)
@pytest.mark.hint(
    "Try every midpoint between consecutive distinct sorted values; gain = parent impurity minus the children's "
    "impurities weighted by their sizes n_left/n and n_right/n."
)
@pytest.mark.parametrize("criterion", ["gini", "entropy"])
@pytest.mark.parametrize("n", [2, 9, 41], ids=str)
def test_best_split_matches_brute_force(student, criterion, n):
    x = feature(n, seed=20 + n)
    x[0], x[-1] = -1.0, 1.5  # at least two distinct values
    y = (x > 0.2).long() * 2 + rand_labels(n, num_classes=2, seed=30 + n) * (torch.arange(n) % 3 == 0)
    impurity = gini_ref if criterion == "gini" else entropy_ref
    want = brute_force_split(x, y, impurity)
    got = student.best_split(x, y, criterion)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail("best_split must return (threshold, gain)")
    unweighted = brute_force_split(x, y, impurity, weighted=False)
    if unweighted[0] != want[0] and got[0] == unweighted[0] and abs(got[1] - want[1]) > 1e-9:
        fail("the children were averaged equally: weight each child's impurity by its share of the rows")
    assert_close(float(got[1]), want[1], atol=1e-9, what=f"best gain ({criterion})",
                 mistakes={"the children were averaged equally: weight each child's impurity by its share of the rows": unweighted[1]}
                 if abs(unweighted[1] - want[1]) > 1e-6 else None)
    assert_close(float(got[0]), want[0], atol=1e-12, what=f"best threshold ({criterion})")


@pytest.mark.points(2)
@pytest.mark.hint("A small child with a bad mix must count less than a large pure one: weight children by size.")
def test_best_split_weights_children_by_size(student):
    x = torch.arange(10, dtype=torch.float64)
    y = torch.tensor([1, 0, 1, 1, 0, 0, 0, 1, 0, 0])
    want = brute_force_split(x, y, gini_ref)
    wrong = brute_force_split(x, y, gini_ref, weighted=False)
    assert wrong[0] != want[0]
    got = student.best_split(x, y, "gini")
    if math.isclose(float(got[0]), wrong[0]):
        fail("the children were averaged equally: weight each child's impurity by its share of the rows")
    assert_close(float(got[0]), want[0], atol=1e-12, what="threshold")
    assert_close(float(got[1]), want[1], atol=1e-12, what="gain")


@pytest.mark.points(2)
@pytest.mark.hint("Thresholds lie halfway between neighbouring distinct values, not at the values themselves.")
def test_best_split_thresholds_are_midpoints(student):
    x = torch.tensor([3.0, 1.0, 1.0, 7.0, 7.0, 3.0], dtype=torch.float64)
    y = torch.tensor([1, 0, 0, 1, 1, 1])
    got = student.best_split(x, y, "entropy")
    want = brute_force_split(x, y, entropy_ref)
    if math.isclose(float(got[0]), 1.0):
        fail("the threshold is a data value (1.0), not the midpoint between 1 and 3")
    assert_close(float(got[0]), want[0], atol=1e-12, what="threshold")
    assert_close(float(got[1]), want[1], atol=1e-12, what="gain")


@pytest.mark.points(2)
@pytest.mark.hint("When several thresholds give the same gain, return the lowest one.")
def test_best_split_breaks_ties_to_the_lowest_threshold(student):
    x = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 1, 1, 0])  # splits at 0.5 and 4.5 tie
    got = student.best_split(x, y, "gini")
    want = brute_force_split(x, y, gini_ref)
    if math.isclose(float(got[0]), 4.5):
        fail("a tie went to the highest threshold (4.5), not the lowest (0.5)")
    assert_close(float(got[0]), want[0], atol=1e-12, what="threshold on a tie")


@pytest.mark.points(1)
@pytest.mark.hint("A feature with a single value cannot separate anything: there is no candidate threshold.")
def test_best_split_of_a_constant_feature_is_no_split(student):
    x = torch.full((6,), 2.5, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    got = student.best_split(x, y, "gini")
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail("best_split must return (threshold, gain)")
    if got[0] is not None:
        fail(f"a constant feature gave threshold {got[0]!r}, expected None (no split)")
    assert_close(float(got[1]), 0.0, what="gain of no split")


def _criterion_error(m, x, y):
    try:
        m.best_split(x, y, "variance")
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:  # noqa: BLE001
        return type(error).__name__
    return "no error"


@pytest.mark.points(1)
@pytest.mark.hint("Only 'gini' and 'entropy' are criteria; anything else is a ValueError.")
def test_best_split_rejects_an_unknown_criterion(student):
    got = student.run(_criterion_error, torch.arange(4.0), torch.tensor([0, 0, 1, 1]))
    if got != "ValueError":
        fail(f"criterion 'variance' gave {got}, expected ValueError")
