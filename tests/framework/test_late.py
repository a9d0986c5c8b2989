"""The late policy: how late a submission came and what ``[grading.late]`` takes off (issue #7).

Every expected value below is computed by hand from the policy: a started day counts as a whole
day, the grace period is measured from the due time, and the penalty is capped at max_penalty.
The course.toml checks name the key and its line, like the rest of course.toml's validation.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.core.course import load_course
from grader.core.errors import CourseError
from grader.core.late import LateAssessment, LatePolicy, assess

from .conftest import COURSE_TOML, MakeCourse

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 11, 20, 23, 59, tzinfo=UTC)
TEN_A_DAY = LatePolicy(per_day=10)
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


# -- assess ---------------------------------------------------------------------------------------


def test_a_submission_before_the_due_time_is_on_time() -> None:
    assert assess(TEN_A_DAY, DUE, DUE - HOUR, 7.5) == LateAssessment(7.5, 0, 0.0, 7.5, "on time")


def test_a_submission_at_the_due_time_exactly_is_on_time() -> None:
    assert assess(TEN_A_DAY, DUE, DUE, 7.5) == LateAssessment(7.5, 0, 0.0, 7.5, "on time")


def test_a_submission_within_the_grace_period_is_on_time() -> None:
    policy = LatePolicy(per_day=10, grace_minutes=15)
    assert assess(policy, DUE, DUE + 14 * MINUTE, 7.5) == LateAssessment(7.5, 0, 0.0, 7.5, "on time")
    assert assess(policy, DUE, DUE + 15 * MINUTE, 7.5) == LateAssessment(7.5, 0, 0.0, 7.5, "on time")


def test_one_minute_past_the_grace_period_is_one_day_late() -> None:
    policy = LatePolicy(per_day=10, grace_minutes=15)
    assessment = assess(policy, DUE, DUE + 16 * MINUTE, 10.0)
    assert assessment == LateAssessment(10.0, 1, 10.0, 9.0, "1 day late (-10%)")
    assert assessment.late


def test_exactly_one_day_late_is_one_day_late() -> None:
    assert assess(TEN_A_DAY, DUE, DUE + 24 * HOUR, 10.0) == LateAssessment(10.0, 1, 10.0, 9.0, "1 day late (-10%)")


def test_25_hours_late_is_two_days_late_because_a_started_day_counts() -> None:
    assert assess(TEN_A_DAY, DUE, DUE + 25 * HOUR, 10.0).days_late == 2


def test_two_days_late_at_10_percent_a_day_keeps_80_percent_of_the_raw_score() -> None:
    assessment = assess(TEN_A_DAY, DUE, DUE + 25 * HOUR, 7.5)
    assert assessment == LateAssessment(7.5, 2, 20.0, 6.0, "2 days late (-20%)")
    assert assessment.final == 7.5 * 0.8


def test_the_penalty_stops_at_max_penalty() -> None:
    policy = LatePolicy(per_day=30, max_penalty=50)
    five_days = DUE + 4 * 24 * HOUR + MINUTE
    assert assess(policy, DUE, five_days, 8.0) == LateAssessment(8.0, 5, 50.0, 4.0, "5 days late (-50%)")


def test_without_a_due_date_nothing_is_late() -> None:
    a_year_later = DUE + dt.timedelta(days=365)
    assert assess(TEN_A_DAY, None, a_year_later, 7.5) == LateAssessment(7.5, 0, 0.0, 7.5, "no due date")


def test_an_unknown_submission_time_counts_as_on_time_and_says_so() -> None:
    assessment = assess(TEN_A_DAY, DUE, None, 7.5)
    assert assessment == LateAssessment(7.5, 0, 0.0, 7.5, "submission time unknown: counted on time")
    assert not assessment.late


@pytest.fixture
def local_time_is_utc_minus_5(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine running ``grade`` keeps time five hours behind UTC (a POSIX TZ, no tz database)."""
    monkeypatch.setenv("TZ", "EST5")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_is_utc_minus_5")
def test_a_due_date_without_an_offset_is_local_time() -> None:
    due = dt.datetime(2026, 11, 20, 23, 59)  # local: 2026-11-21 04:59 UTC
    due_in_utc = dt.datetime(2026, 11, 21, 4, 59, tzinfo=UTC)
    assert assess(TEN_A_DAY, due, due_in_utc - HOUR, 10.0) == LateAssessment(10.0, 0, 0.0, 10.0, "on time")
    assert assess(TEN_A_DAY, due, due_in_utc, 10.0) == LateAssessment(10.0, 0, 0.0, 10.0, "on time")
    one_minute_late = due_in_utc + MINUTE
    assert assess(TEN_A_DAY, due, one_minute_late, 10.0) == LateAssessment(10.0, 1, 10.0, 9.0, "1 day late (-10%)")


# -- [grading.late] in course.toml ----------------------------------------------------------------

# conftest's COURSE_TOML is 10 lines; the [grading.late] table goes after a blank line 11:
# its header is line 12 and the first key of the body is line 13.


def course_with_late(make_course: MakeCourse, body: str) -> Path:
    return make_course(course_toml=COURSE_TOML.format(timeout=5) + "\n[grading.late]\n" + body)


def late_error(make_course: MakeCourse, body: str) -> tuple[Path, str]:
    root = course_with_late(make_course, body)
    with pytest.raises(CourseError) as caught:
        load_course(root)
    return root / "course.toml", str(caught.value)


def test_without_a_late_table_nothing_is_taken_off(make_course: MakeCourse) -> None:
    policy = load_course(make_course()).grading.late
    assert policy == LatePolicy(per_day=0.0, max_penalty=100.0, grace_minutes=0.0)


def test_the_late_table_is_read(make_course: MakeCourse) -> None:
    root = course_with_late(make_course, "per_day = 10\nmax_penalty = 50\ngrace_minutes = 15.5\n")
    assert load_course(root).grading.late == LatePolicy(per_day=10.0, max_penalty=50.0, grace_minutes=15.5)


def test_keys_left_out_of_the_late_table_keep_their_defaults(make_course: MakeCourse) -> None:
    root = course_with_late(make_course, "per_day = 5\n")
    assert load_course(root).grading.late == LatePolicy(per_day=5.0, max_penalty=100.0, grace_minutes=0.0)


def test_an_unknown_late_key_is_named_with_the_keys_there_are(make_course: MakeCourse) -> None:
    _, message = late_error(make_course, "per_day = 10\nper_week = 20\n")
    assert message.endswith(
        "[grading.late] has unknown key 'per_week'; the keys are grace_minutes, max_penalty, per_day"
    )


def test_an_unknown_late_key_is_reported_at_its_line(make_course: MakeCourse) -> None:
    path, message = late_error(make_course, "per_day = 10\nper_week = 20\n")
    assert message.startswith(f"{path}:14: ")


def test_a_negative_per_day_is_rejected_at_its_line(make_course: MakeCourse) -> None:
    path, message = late_error(make_course, "per_day = -1\n")
    assert message == f"{path}:13: [grading.late] per_day = -1 must be a number between 0 and 100"


def test_a_max_penalty_over_100_is_rejected_at_its_line(make_course: MakeCourse) -> None:
    path, message = late_error(make_course, "per_day = 10\nmax_penalty = 120\n")
    assert message == f"{path}:14: [grading.late] max_penalty = 120 must be a number between 0 and 100"


def test_a_per_day_over_100_is_rejected(make_course: MakeCourse) -> None:
    path, message = late_error(make_course, "per_day = 100.5\n")
    assert message == f"{path}:13: [grading.late] per_day = 100.5 must be a number between 0 and 100"


def test_a_negative_grace_period_is_rejected_at_its_line(make_course: MakeCourse) -> None:
    path, message = late_error(make_course, "grace_minutes = -5\n")
    assert message == f"{path}:13: [grading.late] grace_minutes = -5 must be a number 0 or more"


@pytest.mark.parametrize("value", ['"10%"', "true", "[10]"])
def test_a_late_value_that_is_not_a_number_is_rejected_at_its_line(make_course: MakeCourse, value: str) -> None:
    path, message = late_error(make_course, f"per_day = {value}\n")
    assert message.startswith(f"{path}:13: [grading.late] per_day = ")
    assert message.endswith(" must be a number between 0 and 100")


def test_a_late_value_that_is_nan_is_rejected(make_course: MakeCourse) -> None:
    path, message = late_error(make_course, "per_day = nan\n")
    assert message == f"{path}:13: [grading.late] per_day = nan must be a number between 0 and 100"


def test_late_must_be_a_table(make_course: MakeCourse) -> None:
    toml = COURSE_TOML.format(timeout=5).replace("timeout = 5", "timeout = 5\nlate = 10")
    root = make_course(course_toml=toml)
    with pytest.raises(CourseError) as caught:
        load_course(root)
    assert f"{root / 'course.toml'}:6: [grading] late must be a table: [grading.late]" in str(caught.value)
