"""Hints that unfold (issue #20): the report shows a hint's first level, each `grade hint` the next
one, and the history records every ask."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from grader.cli import run

from .conftest import SOLUTION, SUITE, MakeCourse, course_writer

LEVELS = '@pytest.mark.hint("multiply every entry", "the same factor for each entry", "two, not x")'
SUITE_WITH_LEVELS = SUITE.replace('@pytest.mark.hint("multiply every entry")', LEVELS)


def grade(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), console=Console(file=out, width=300), err_console=Console(file=err, width=300))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    make = course_writer(tmp_path_factory.mktemp("hints"))
    return make({"basics": SOLUTION.replace("return 2 * x", "return 3 * x")}, suite=SUITE_WITH_LEVELS)


def test_the_report_shows_only_the_first_level(course: Path) -> None:
    code, out, _ = grade("week1", "--course", str(course))
    assert code == 1
    assert "hint: multiply every entry" in out
    assert "the same factor" not in out


def test_each_ask_unfolds_the_next_level_until_the_deepest(course: Path) -> None:
    _, second, _ = grade("hint", "week1", "test_double", "--course", str(course))
    _, third, _ = grade("hint", "week1", "test_double", "--course", str(course))
    _, again, _ = grade("hint", "week1", "test_double", "--course", str(course))
    assert "hint 2 of 3" in second and "the same factor for each entry" in second
    assert "ask again for the next level: grade hint week1 test_double" in second
    assert "hint 3 of 3" in third and "two, not x" in third and "deepest hint" in third
    assert "hint 3 of 3" in again


def test_the_history_records_each_ask(course: Path) -> None:
    asked = json.loads((course / ".grade" / "hints.json").read_text())["asked"]
    assert [(a["week_id"], a["test"], a["level"]) for a in asked] == [
        ("week1", "test_double", 2),
        ("week1", "test_double", 3),
        ("week1", "test_double", 3),
    ]


def test_a_learner_function_names_the_tests_of_it_that_failed_last(course: Path) -> None:
    code, out, _ = grade("hint", "1", "double", "--course", str(course))
    assert code == 0
    assert out.startswith("test_double  hint 3 of 3")


def test_a_name_that_names_no_test_is_a_usage_error(course: Path) -> None:
    code, _, err = grade("hint", "week1", "entropy", "--course", str(course))
    assert code == 2
    assert "no test of week1 is named 'entropy' or tests a function of that name" in err


def test_a_hint_level_that_is_not_text_is_a_broken_marker(make_course: MakeCourse) -> None:
    root = make_course(suite=SUITE.replace('@pytest.mark.hint("multiply every entry")', '@pytest.mark.hint("a", 2)'))
    code, _, err = grade("week1", "--course", str(root))
    assert code == 2
    assert "@pytest.mark.hint takes one non-empty string per level" in err
