"""course.toml is validated on load, with file, line and fix; weeks resolve from what people type."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from grader.core.course import load_course, resolve_week
from grader.core.errors import CourseError, UsageError

from .conftest import MakeCourse

TWO_WEEKS = """\
[course]
title = "Two weeks"

[grading]
timeout = 7
memory_limit = "2GiB"

[[weeks]]
id = "week1"
folder = "week01_basics"
title = "Basics"

[[weeks]]
id = "week5"
folder = "week05_probability"
title = "Probability and information theory"
due = 2026-12-01
"""


@pytest.fixture
def two_weeks(tmp_path: Path) -> Path:
    for kind in ("exercises", "solutions", "tests"):
        for folder in ("week01_basics", "week05_probability"):
            (tmp_path / kind / folder).mkdir(parents=True)
    (tmp_path / "course.toml").write_text(TWO_WEEKS)
    return tmp_path


def error_for(root: Path, toml: str) -> str:
    (root / "course.toml").write_text(toml)
    with pytest.raises(CourseError) as caught:
        load_course(root)
    return str(caught.value)


def test_a_valid_course_loads_in_order_with_its_grading_defaults(two_weeks: Path) -> None:
    course = load_course(two_weeks)
    assert [w.id for w in course.weeks] == ["week1", "week5"]
    assert course.grading.timeout_s == 7
    assert course.grading.memory_mb == 2048
    assert course.weeks[1].due == dt.datetime(2026, 12, 1, 23, 59, 59)
    assert course.weeks[1].topic == "probability"


@pytest.mark.parametrize(
    "ref", ["week5", "5", "week05", "probability", "PROBABILITY", "week05_probability", "prob", "05"]
)
def test_a_week_resolves_from_any_usual_spelling(two_weeks: Path, ref: str) -> None:
    assert load_course(two_weeks).resolve(ref).id == "week5"


def test_an_unknown_week_lists_the_weeks_with_a_did_you_mean(two_weeks: Path) -> None:
    with pytest.raises(UsageError) as caught:
        load_course(two_weeks).resolve("probabilty")
    message = str(caught.value)
    assert "did you mean 'probability'?" in message
    assert "week1 (basics), week5 (probability)" in message


def test_a_missing_week_number_is_unknown(two_weeks: Path) -> None:
    with pytest.raises(UsageError, match="no week '9'"):
        resolve_week(load_course(two_weeks).weeks, "9")


def test_an_unknown_key_is_named_with_its_line_and_a_suggestion(two_weeks: Path) -> None:
    message = error_for(two_weeks, TWO_WEEKS.replace('title = "Basics"', 'title = "Basics"\ntitel = "x"'))
    assert message == f"{two_weeks / 'course.toml'}:12: unknown key 'titel' in [weeks]; did you mean 'title'?"


def test_an_unknown_top_level_table_is_an_error(two_weeks: Path) -> None:
    message = error_for(two_weeks, TWO_WEEKS + "\n[grdaing]\ntimeout = 3\n")
    assert "unknown key 'grdaing' in top level; did you mean 'grading'?" in message


def test_a_missing_folder_names_the_week_and_the_path(two_weeks: Path) -> None:
    message = error_for(two_weeks, TWO_WEEKS.replace('folder = "week01_basics"', 'folder = "week01_basix"'))
    assert ":10: week 'week1' names folder 'week01_basix'" in message
    assert "does not exist" in message


def test_a_duplicate_week_is_an_error(two_weeks: Path) -> None:
    message = error_for(two_weeks, TWO_WEEKS.replace('id = "week5"', 'id = "week1"'))
    assert ":14: week 'week1' repeats the id 'week1' of week 'week1'" in message


def test_a_malformed_date_says_how_to_write_one(two_weeks: Path) -> None:
    message = error_for(two_weeks, TWO_WEEKS.replace("due = 2026-12-01", 'due = "1st of December"'))
    assert ":17: due = '1st of December' is not a date; write a TOML date like due = 2026-12-01" in message


def test_a_week_marked_gpu_says_so_and_anything_but_a_boolean_is_an_error(two_weeks: Path) -> None:
    (two_weeks / "course.toml").write_text(TWO_WEEKS + "gpu = true\n")
    assert [w.gpu for w in load_course(two_weeks).weeks] == [False, True]
    message = error_for(two_weeks, TWO_WEEKS + 'gpu = "yes"\n')
    assert ":18: gpu = 'yes' must be true or false, like gpu = true" in message


def test_invalid_toml_reports_the_position(two_weeks: Path) -> None:
    message = error_for(two_weeks, TWO_WEEKS.replace('title = "Basics"', "title = Basics"))
    assert "not valid TOML" in message
    assert "line 11" in message


def test_a_missing_title_says_what_to_add(two_weeks: Path) -> None:
    message = error_for(two_weeks, TWO_WEEKS.replace('title = "Basics"\n', ""))
    assert ':8: [[weeks]] #1: title is missing; add title = "..."' in message


def test_bad_grading_values_are_errors(two_weeks: Path) -> None:
    assert "timeout = -1 must be a positive number" in error_for(
        two_weeks, TWO_WEEKS.replace("timeout = 7", "timeout = -1")
    )
    assert "is not a size" in error_for(two_weeks, TWO_WEEKS.replace('"2GiB"', '"lots"'))


def test_a_release_without_solutions_still_loads(two_weeks: Path) -> None:
    import shutil

    shutil.rmtree(two_weeks / "solutions")
    assert len(load_course(two_weeks).weeks) == 2


def test_the_fixture_course_loads(make_course: MakeCourse) -> None:
    assert load_course(make_course()).weeks[0].id == "week1"
