"""★ exercises: `optional = [...]` in a week of course.toml marks exercise modules that are graded
and shown, but whose points stay out of the week's total (a learner can reach 100 % without them)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from rich.console import Console

from grader.classroom.gradebook import Gradebook
from grader.cli.report import render_week
from grader.core.course import load_course
from grader.core.errors import CourseError
from grader.core.results import ExerciseResult, TestInfo, TestOutcome, WeekResult
from grader.engine.runner import GradeRequest, grade_week

from .conftest import COURSE_TOML, SOLUTION, MakeCourse
from .test_gradebook import entry

WITH_OPTIONAL = COURSE_TOML.format(timeout=5) + 'optional = ["bonus"]\n'


def _exercise(name: str, *, passed: int, failed: int, optional: bool = False) -> ExerciseResult:
    outcomes = [TestOutcome(TestInfo(f"{name}::p{i}", f"p{i}", name, 2.0), "passed") for i in range(passed)]
    outcomes += [TestOutcome(TestInfo(f"{name}::f{i}", f"f{i}", name, 1.0), "failed", "wrong") for i in range(failed)]
    return ExerciseResult(name, f"exercises/week01_basics/{name}.py", tuple(outcomes), optional=optional)


RESULT = WeekResult(
    course="Tiny course",
    week_id="week1",
    week_title="Basics",
    week_folder="week01_basics",
    submission="exercises",
    exercises=(_exercise("basics", passed=2, failed=0), _exercise("bonus", passed=1, failed=1, optional=True)),
)


def test_an_optional_week_key_names_its_modules(make_course: MakeCourse) -> None:
    root = make_course({"basics": SOLUTION, "bonus": SOLUTION}, course_toml=WITH_OPTIONAL)
    assert load_course(root).weeks[0].optional == ("bonus",)


def test_an_optional_module_that_does_not_exist_is_an_error_with_its_line(make_course: MakeCourse) -> None:
    root = make_course({"basics": SOLUTION}, course_toml=WITH_OPTIONAL)
    with pytest.raises(CourseError, match=r"course.toml:\d+: .*marks 'bonus' optional, but .*bonus.py does not exist"):
        load_course(root)


def test_an_empty_placeholder_folder_is_not_checked_for_its_optional_modules(make_course: MakeCourse) -> None:
    # the Gradescope autograder ships the other weeks as empty folders
    root = make_course({"basics": SOLUTION}, course_toml=WITH_OPTIONAL)
    (root / "exercises" / "week01_basics" / "basics.py").unlink()
    assert load_course(root).weeks[0].optional == ("bonus",)


@pytest.mark.parametrize("value", ['"bonus"', "[1]", '["../bonus"]'])
def test_optional_must_be_a_list_of_module_names(make_course: MakeCourse, value: str) -> None:
    root = make_course({"basics": SOLUTION}, course_toml=COURSE_TOML.format(timeout=5) + f"optional = {value}\n")
    with pytest.raises(CourseError, match="must list exercise modules by name"):
        load_course(root)


def test_optional_points_stay_out_of_the_total_but_are_counted_apart() -> None:
    assert (RESULT.points_earned, RESULT.points_possible) == (4.0, 4.0)
    assert (RESULT.optional_points_earned, RESULT.optional_points_possible) == (2.0, 3.0)
    assert (RESULT.tests_passed, RESULT.tests_total) == (3, 4)  # every test is still counted as a test
    assert not RESULT.all_passed


def test_the_report_marks_the_exercise_and_adds_its_points_after_the_total() -> None:
    out = io.StringIO()
    render_week(Console(file=out, width=100, color_system=None), RESULT)
    text = out.getvalue()
    assert "exercises/week01_basics/bonus.py  ★ optional" in text
    assert "basics.py  ★" not in text
    assert "4/4 points + 2/3 optional ★  (100%," in text


def test_the_gradebook_keeps_which_exercises_were_optional(tmp_path: Path) -> None:
    with Gradebook.open(tmp_path / "grades.db", create=True) as book:
        book.record(entry(week_id="week1", result=RESULT))
        (stored,) = book.current("week1")
    assert stored.result is not None
    assert [(e.name, e.optional) for e in stored.result.exercises] == [("basics", False), ("bonus", True)]
    assert stored.result.points_possible == 4.0


def test_grading_marks_the_optional_exercise_from_the_course(make_course: MakeCourse) -> None:
    root = make_course({"basics": SOLUTION, "bonus": SOLUTION}, course_toml=WITH_OPTIONAL)
    course = load_course(root)
    request = GradeRequest(course=course, week=course.weeks[0], submission=course.exercises_dir, label="exercises")
    result = grade_week(request)
    assert {e.name: e.optional for e in result.exercises} == {"basics": False, "bonus": True}
    assert (result.points_earned, result.optional_points_earned) == (3.0, 3.0)
    assert dataclasses.replace(result, exercises=result.exercises[:1]).points_possible == 3.0
