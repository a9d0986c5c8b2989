"""Hidden tests of week 8, early_stopping.py: EarlyStopping on scripted validation curves.

The expected stopping point of each curve is computed in the test by scanning the curve for the
last improvement (a metric beating the best so far by more than min_delta in the direction of
`mode`) and counting `patience` evaluations on. The saved state is checked by changing the model
in place after the best evaluation, as an optimizer does, and restoring.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import assert_close, fail

pytestmark = pytest.mark.exercise("early_stopping")

CURVES = {  # name: (curve, patience, min_delta, mode)
    "loss, patience 3": ([1.0, 0.8, 0.9, 0.7, 0.75, 0.72, 0.71, 0.9, 0.6], 3, 0.0, "min"),
    "loss, patience 1": ([2.0, 1.5, 1.2, 1.3, 1.0], 1, 0.0, "min"),
    "plateau of equal values": ([1.0, 1.0, 1.0, 1.0, 1.0, 0.5], 3, 0.0, "min"),
    "small gains under min_delta": ([1.0, 0.97, 0.95, 0.93, 0.5, 0.4], 3, 0.1, "min"),
    "accuracy, mode max": ([0.5, 0.6, 0.55, 0.65, 0.64, 0.6, 0.62, 0.7], 2, 0.0, "max"),
    "accuracy, mode max with min_delta": ([0.5, 0.52, 0.7, 0.71, 0.72, 0.73, 0.9], 3, 0.05, "max"),
    "never stops": ([5.0, 4.0, 3.0, 2.5, 2.0], 2, 0.0, "min"),
}


def _run_curve(m, curve, patience, min_delta, mode):
    stopper = m.EarlyStopping(patience, min_delta=min_delta, mode=mode)
    model = nn.Linear(2, 1)
    stops, bests = [], []
    for value in curve:
        stops.append(bool(stopper.step(value, model)))
        bests.append(stopper.best)
    return {"stops": stops, "bests": bests}


def _restore_best(m):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    stopper = m.EarlyStopping(patience=5)
    states = []
    for metric in (0.9, 0.5, 0.7, 0.8):  # the best is the second evaluation
        with torch.no_grad():
            for tensor in model.parameters():
                tensor.add_(torch.randn_like(tensor))  # in place, as an optimizer step is
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        stopper.step(metric, model)
    stopper.restore(model)
    restored = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for tensor in model.parameters():
            tensor.mul_(3.0)
    stopper.restore(model)
    restored_again = {k: v.clone() for k, v in model.state_dict().items()}
    return {"states": states, "restored": restored, "restored_again": restored_again}


def _errors(m):
    result = {}
    try:
        m.EarlyStopping(3).restore(nn.Linear(2, 1))
    except NotImplementedError:
        raise
    except Exception as error:
        result["restore"] = type(error).__name__
    else:
        result["restore"] = "no error"
    try:
        m.EarlyStopping(3, mode="maximum")
    except NotImplementedError:
        raise
    except Exception as error:
        result["mode"] = type(error).__name__
    else:
        result["mode"] = "no error"
    return result


def improvements(curve, min_delta, mode, strict=True):
    """For each evaluation, whether it improves on the best so far, and the best after it."""
    best, improved, bests = None, [], []
    for value in curve:
        if best is None:
            better = True
        elif mode == "min":
            better = value < best - min_delta if strict else value <= best - min_delta
        else:
            better = value > best + min_delta if strict else value >= best + min_delta
        improved.append(better)
        best = value if better else best
        bests.append(best)
    return improved, bests


def expected_stops(curve, patience, min_delta, mode, strict=True):
    """step()'s return value at each evaluation: True once `patience` evaluations passed without improvement."""
    improved, _ = improvements(curve, min_delta, mode, strict)
    stops, since = [], 0
    for better in improved:
        since = 0 if better else since + 1
        stops.append(since >= patience)
    return stops


def first(stops):
    return stops.index(True) if True in stops else None


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Count evaluations since the last improvement; step returns True when that count reaches patience. "
    "An equal value is not an improvement."
)
@pytest.mark.parametrize("case", list(CURVES))
def test_early_stopping_stops_patience_evaluations_after_the_last_improvement(student, case):
    curve, patience, min_delta, mode = CURVES[case]
    got = student.run(_run_curve, curve, patience, min_delta, mode)
    want = expected_stops(curve, patience, min_delta, mode)
    if got["stops"] == want:
        return
    got_first, want_first = first(got["stops"]), first(want)
    at = "never stopped" if got_first is None else f"stopped at evaluation {got_first + 1}"
    expected = "no stop" if want_first is None else f"a stop at evaluation {want_first + 1}"
    summary = f"{at}, expected {expected}"
    if got_first == want_first:
        fail(f"step() returned {got['stops']}, expected {want}")
    if min_delta and got["stops"] == expected_stops(curve, patience, 0.0, mode):
        fail(f"{summary}: min_delta was ignored (an improvement must beat the best by more than min_delta)")
    if got["stops"] == expected_stops(curve, patience, min_delta, "max" if mode == "min" else "min"):
        fail(f"{summary}: mode={mode!r} was not honoured")
    if got["stops"] == expected_stops(curve, patience, min_delta, mode, strict=False):
        fail(f"{summary}: a metric equal to the best (plus min_delta) was counted as an improvement")
    if got["stops"] == expected_stops(curve, patience + 1, min_delta, mode):
        fail(f"{summary}: one evaluation late, off by one in patience")
    if patience > 1 and got["stops"] == expected_stops(curve, patience - 1, min_delta, mode):
        fail(f"{summary}: one evaluation early, off by one in patience")
    fail(summary)


@pytest.mark.points(1)
@pytest.mark.hint("best is the best metric so far in the direction of mode; it changes only on an improvement.")
@pytest.mark.parametrize("case", ["loss, patience 3", "small gains under min_delta", "accuracy, mode max"])
def test_early_stopping_tracks_the_best_metric(student, case):
    curve, patience, min_delta, mode = CURVES[case]
    got = student.run(_run_curve, curve, patience, min_delta, mode)
    _, want = improvements(curve, min_delta, mode)
    assert_close(got["bests"], want, what="best after each evaluation")


@pytest.mark.points(3)
@pytest.mark.hint(
    "model.state_dict() shares memory with the parameters: does your saved state change when the model trains?"
)
def test_early_stopping_restores_a_deep_copy_of_the_best_weights(student):
    got = student.run(_restore_best)
    states = got["states"]
    assert_close(
        got["restored"],
        states[1],
        what="restored weights",
        mistakes={
            "restored weights are the last, not the best: the saved state changed when the model trained": states[-1],
            "restored the first weights: save the state again at every improvement": states[0],
        },
    )
    assert_close(
        got["restored_again"],
        states[1],
        what="weights restored a second time",
        mistakes={"restoring twice gave other weights: restore must not share memory with the saved state": {
            k: 3.0 * v for k, v in states[1].items()
        }},
    )


@pytest.mark.points(1)
@pytest.mark.hint("restore() before any step() has nothing to restore (RuntimeError); mode is 'min' or 'max' (ValueError).")
def test_early_stopping_rejects_restore_before_step_and_unknown_modes(student):
    got = student.run(_errors)
    if got["restore"] != "RuntimeError":
        fail(f"restore() before any step() gave {got['restore']}, expected a RuntimeError")
    if got["mode"] != "ValueError":
        fail(f"mode='maximum' gave {got['mode']}, expected a ValueError")
