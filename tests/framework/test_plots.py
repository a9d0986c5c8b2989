"""grade WEEK --plot: a failed comparison of a function of one variable (assert_close(..., at=x))
carries the two curves, bounded, from the grading child to the trusted side, which draws a PNG
per failing test in .grade/plots/ with the worst point marked."""

from __future__ import annotations

import sys

import pytest
import torch

from grader import testing
from grader.core.results import Curve

from .conftest import MakeCourse
from .test_cli import grade

CURVE_SUITE = """\
import pytest
import torch

from grader.testing import assert_close

pytestmark = pytest.mark.exercise("{exercise}")


@pytest.mark.points(1)
@pytest.mark.hint("square each entry")
def test_square_on_a_grid(student):
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)
    assert_close(student.square(x), x**2, at=x)


@pytest.mark.points(1)
def test_square_without_inputs(student):
    x = torch.linspace(-2, 2, 5, dtype=torch.float64)
    assert_close(student.square(x), x**2)
"""

WRONG_SQUARE = "def square(x):\n    return x**2 + (x > 1) * 0.5\n"


def test_a_failed_comparison_with_inputs_carries_its_curves_bounded_with_the_worst_point() -> None:
    x = torch.linspace(0, 1, 5000, dtype=torch.float64)
    got = x.clone()
    got[4321] += 3.0
    with pytest.raises(pytest.fail.Exception) as failure:
        testing.assert_close(got, x, at=x)
    curve = Curve.from_event(failure.value.grade_curve)  # type: ignore[attr-defined]
    assert curve is not None and len(curve.x) <= testing.MAX_CURVE_POINTS
    assert curve.x[curve.worst] == pytest.approx(float(x[4321])) and curve.got[curve.worst] - curve.want[
        curve.worst
    ] == pytest.approx(3.0)
    assert list(curve.x) == sorted(curve.x)


def test_a_curve_that_is_not_well_formed_is_dropped_on_arrival() -> None:
    assert Curve.from_event({"what": "r", "x": [1.0, 2.0], "got": [1.0], "want": [1.0, 2.0], "worst": 0}) is None
    assert (
        Curve.from_event({"what": "r", "x": [0.0] * 5000, "got": [0.0] * 5000, "want": [0.0] * 5000, "worst": 0})
        is None
    )
    assert Curve.from_event({"what": "r", "x": ["a"], "got": [1], "want": [1], "worst": 0}) is None


def test_grade_plot_writes_a_png_per_failing_test_with_a_curve_and_prints_its_path(make_course: MakeCourse) -> None:
    root = make_course({"curves": WRONG_SQUARE}, suite=CURVE_SUITE)
    code, out, _ = grade("week1", "--plot", "--course", str(root))
    assert code == 1
    plots = sorted((root / ".grade" / "plots").glob("*.png"))
    assert [p.name for p in plots] == ["week1-test_square_on_a_grid.png"]  # the test without inputs has no curve
    assert plots[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {plots[0]}" in "".join(out.split("\n"))


def test_without_matplotlib_the_flag_says_which_install_command_adds_it(
    make_course: MakeCourse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    code, _, err = grade("week1", "--plot", "--course", str(make_course()))
    assert code == 2 and 'pip install -e ".[plot]"' in " ".join(err.split())
