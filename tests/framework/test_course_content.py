"""The course as shipped: every week's reference scores full marks and its untouched stubs score 0,
failing only with "not implemented yet" (never a crash, a collection error or a time-out)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from grader.course import Course, Week, load_course
from grader.runner import GradeRequest, grade_week

ROOT = Path(__file__).resolve().parents[2]
COURSE = load_course(ROOT)


@pytest.fixture(scope="module")
def course() -> Course:
    return COURSE


@pytest.mark.parametrize("week", COURSE.weeks, ids=lambda w: w.id)
def test_the_reference_solution_scores_full_marks(course: Course, week: Week) -> None:
    result = grade_week(GradeRequest(course=course, week=week, submission=course.solutions_dir, label="solutions"))
    failures = [f"{o.info.name}: {o.message}" for e in result.exercises for o in e.outcomes if not o.passed]
    assert failures == []
    assert result.tests_total >= 30


@pytest.mark.parametrize("week", COURSE.weeks, ids=lambda w: w.id)
def test_untouched_stubs_score_zero_and_only_say_not_implemented(course: Course, week: Week) -> None:
    result = grade_week(GradeRequest(course=course, week=week, submission=course.exercises_dir, label="exercises"))
    assert result.points_earned == 0
    assert {o.status for e in result.exercises for o in e.outcomes} == {"not_implemented"}


@pytest.mark.parametrize("week", COURSE.weeks, ids=lambda w: w.id)
def test_every_mutant_edit_applies_to_the_reference_exactly_once(course: Course, week: Week) -> None:
    path = course.solutions_dir / week.folder / "mutants.toml"
    if not path.exists():
        pytest.skip(f"{week.id} ships no mutants yet")
    mutants = tomllib.loads(path.read_text())["mutants"]
    assert len({m["name"] for m in mutants}) == len(mutants)
    for mutant in mutants:
        source = (course.solutions_dir / week.folder / f"{mutant['module']}.py").read_text()
        for edit in mutant["replace"]:
            assert source.count(edit["old"]) == 1, f"{mutant['name']}: {edit['old']!r}"
