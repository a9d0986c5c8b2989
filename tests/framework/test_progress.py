"""Progress across the course: every run is kept with its time, the best is never overwritten by a
worse run, ``grade`` shows best and last and the course total, ``grade history WEEK`` the runs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from grader.core.results import ExerciseResult, TestInfo, TestOutcome, WeekResult
from grader.learner import history

from .conftest import COURSE_TOML, SOLUTION, SUITE, MakeCourse
from .test_cli import grade


def _result(earned: int, possible: int = 4) -> WeekResult:
    outcomes = tuple(
        TestOutcome(TestInfo(f"t::{i}", f"test_{i}", "basics", 1.0), "passed" if i < earned else "failed")
        for i in range(possible)
    )
    return WeekResult(
        course="c",
        week_id="week1",
        week_title="Basics",
        week_folder="week01_basics",
        submission="exercises",
        exercises=(ExerciseResult("basics", "exercises/week01_basics/basics.py", outcomes),),
        duration_s=1.0,
    )


def test_a_worse_run_is_kept_as_the_last_but_the_best_stays(tmp_path: Path) -> None:
    history.save_score(tmp_path, _result(4), now=dt.datetime(2026, 1, 1, 10))
    history.save_score(tmp_path, _result(1), now=dt.datetime(2026, 1, 2, 10))
    week = history.load_history(tmp_path)["week1"]
    assert [r.points_earned for r in week.runs] == [4, 1]
    assert week.best.points_earned == 4 and week.best.graded_at == "2026-01-01T10:00:00"
    assert week.last.points_earned == 1


def test_a_score_file_from_before_the_history_is_read_as_the_first_run(tmp_path: Path) -> None:
    (tmp_path / ".grade").mkdir()
    old = {"week_id": "week1", "points_earned": 3.0, "points_possible": 4.0, "tests_passed": 3, "tests_total": 4}
    (tmp_path / ".grade" / "scores.json").write_text(json.dumps({"week1": {**old, "graded_at": "2025-12-01T09:00:00"}}))
    history.save_score(tmp_path, _result(2))
    week = history.load_history(tmp_path)["week1"]
    assert [r.points_earned for r in week.runs] == [3, 2] and week.best.points_earned == 3


def test_the_oldest_runs_are_dropped_past_the_bound_but_never_the_best(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(history, "MAX_RUNS", 3)
    for earned in (4, 1, 2, 3, 0):
        history.save_score(tmp_path, _result(earned))
    week = history.load_history(tmp_path)["week1"]
    assert [r.points_earned for r in week.runs] == [4, 3, 0]


def test_an_unreadable_history_is_set_aside_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / ".grade").mkdir()
    (tmp_path / ".grade" / "history.json").write_text("{not json")
    history.save_score(tmp_path, _result(2))
    assert (tmp_path / ".grade" / "history.json.broken").read_text() == "{not json"
    assert history.load_history(tmp_path)["week1"].last.points_earned == 2


@pytest.fixture(scope="module")
def graded_twice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course whose week1 was graded at 3/3, then at 1/3 (a worse run), by the grade command."""
    root = tmp_path_factory.mktemp("progress") / "course"
    for kind, source in (("solutions", SOLUTION), ("exercises", SOLUTION), ("tests", SUITE.format(exercise="basics"))):
        (root / kind / "week01_basics").mkdir(parents=True)
        (root / kind / "week01_basics" / ("test_basics.py" if kind == "tests" else "basics.py")).write_text(source)
    (root / "course.toml").write_text(COURSE_TOML.format(timeout=5))
    grade("week1", "--course", str(root))  # 3/3
    (root / "exercises" / "week01_basics" / "basics.py").write_text(SOLUTION.replace("2 * x", "3 * x"))
    grade("week1", "--course", str(root))  # 1/3: the last, not the best
    return root


def test_grade_list_shows_best_last_and_the_course_total(graded_twice: Path) -> None:
    code, out, _ = grade("list", "--course", str(graded_twice))
    assert code == 0
    row = next(line for line in out.splitlines() if line.strip().startswith("week1"))
    assert "3/3" in row and "1/3" in row
    assert row.index("3/3") < row.index("1/3")  # best, then last
    assert "3/3 points (100%) from each week's best run" in out
    assert "█" * 40 in out


def test_grade_history_lists_every_run_with_its_time_and_marks_the_best(graded_twice: Path) -> None:
    code, out, _ = grade("history", "basics", "--course", str(graded_twice))
    assert code == 0
    runs = [line for line in out.splitlines() if "/3" in line and ":" in line]
    assert len(runs) == 2
    assert "3/3" in runs[0] and "best" in runs[0]
    assert "1/3" in runs[1] and "best" not in runs[1]
    assert "2 run(s); best 3/3, last 1/3" in out


def test_grade_history_of_a_week_never_graded_says_how_to_grade_it(make_course: MakeCourse) -> None:
    code, out, _ = grade("history", "week1", "--course", str(make_course()))
    assert code == 0 and "week1 has no stored run yet" in out


def test_grade_history_of_an_unknown_week_is_a_usage_error(make_course: MakeCourse) -> None:
    code, _, err = grade("history", "week99", "--course", str(make_course()))
    assert code == 2 and "week99" in err
