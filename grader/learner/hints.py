"""Hints that unfold: ``grade hint WEEK TEST_OR_FUNCTION`` shows the next level of a test's hint.

A test's ``@pytest.mark.hint("first", "deeper", ...)`` has levels.  The report shows the first
(or the hint of the mistake found); each ``grade hint`` shows the next level of one test's hint
and the history records that it was asked for, so the next ask goes one level deeper.  The
target is a test (``test_entropy_matches_torch``) or a learner function (``entropy``): the
failing tests of the last grade that called it, else the tests named after it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ..core.course import Course
from ..core.errors import UsageError
from ..core.results import TestInfo
from . import history
from .grading import overview


@dataclass(frozen=True)
class UnfoldedHint:
    """The level of a test's hint that ``grade hint`` shows."""

    week_id: str
    test: TestInfo
    level: int  # 1-based
    text: str
    deepest: bool  # no level below this one
    also: tuple[str, ...] = ()  # other tests the target named, for the next ask


def next_hint(*, course: Course, week: str, target: str, now: dt.datetime | None = None) -> UnfoldedHint:
    """The next level of the hint of the test ``target`` names, recorded in the history."""
    chosen = course.resolve(week)
    tests = overview(course=course).suites.get(chosen.id, ())
    matches = _tests_named_by(target, tests, history.last_failures(course.root, chosen.id))
    if not matches:
        raise UsageError(
            f"grade hint {chosen.id} {target}: no test of {chosen.id} is named {target!r} or tests a function of "
            "that name; give a test's name from the report (e.g. test_...) or the name of your function"
        )
    test = matches[0]
    levels = test.hint_levels
    if not levels:
        raise UsageError(f"{test.name} has no hint; its message in the report is all the help it gives")
    base = test.name.split("[")[0]
    asked = sum(1 for a in history.hints_asked(course.root, chosen.id) if a.test == base)
    level = min(asked + 2, len(levels))
    history.record_hint(
        course.root,
        history.HintAsked(chosen.id, base, level, (now or dt.datetime.now()).isoformat(timespec="seconds")),
    )
    also = tuple(dict.fromkeys(t.name.split("[")[0] for t in matches[1:] if t.name.split("[")[0] != base))
    return UnfoldedHint(chosen.id, test, level, levels[level - 1], level == len(levels), also)


def _tests_named_by(target: str, tests: tuple[TestInfo, ...], failures: list[tuple[str, str]]) -> list[TestInfo]:
    """The tests ``target`` names: by test name; else the last grade's failing tests of that
    function; else the tests whose name has it as a word (``entropy`` in ``test_entropy_of_...``)."""
    target = target.strip()
    by_name = [t for t in tests if target in (t.name, t.name.split("[")[0], t.id)]
    if by_name:
        return by_name
    failing = [name for name, function in failures if function == target]
    if failing:
        return [t for name in dict.fromkeys(failing) for t in tests if t.name.split("[")[0] == name]
    word = re.compile(rf"(^|_){re.escape(target)}(_|$)")
    return [t for t in tests if word.search(t.name.split("[")[0].removeprefix("test_"))]
