"""The plugin's markers, fixtures and outcomes, on small suites run by pytester."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch  # noqa: F401 - loaded before pytester snapshots sys.modules: torch cannot be imported twice

from grader.core.course import load_course
from grader.core.errors import SuiteError
from grader.engine.runner import GradeRequest, grade_week

from .conftest import SOLUTION, STUB, MakeCourse


@pytest.fixture
def week(pytester: pytest.Pytester) -> Path:
    """A pytester folder with solutions/ and exercises/ for one exercise, `basics`."""
    for kind, source in (("solutions", SOLUTION), ("exercises", STUB)):
        folder = pytester.path / kind / "week01_basics"
        folder.mkdir(parents=True)
        (folder / "basics.py").write_text(source)
    (pytester.path / "week01_basics").mkdir()
    return pytester.path / "week01_basics"


def write_suite(week: Path, body: str) -> None:
    header = (
        "import pytest, torch\nfrom grader.testing import assert_close\npytestmark = pytest.mark.exercise('basics')\n\n"
    )
    (week / "test_basics.py").write_text(header + body)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "grader.engine.plugin", "-p", "no:cacheprovider", "--import-mode=importlib", *args)


def test_the_student_fixture_defaults_to_the_reference_solutions(pytester: pytest.Pytester, week: Path) -> None:
    write_suite(
        week,
        "@pytest.mark.points(1)\ndef test_double(student):\n    assert_close(student.double(torch.ones(2)), 2 * torch.ones(2))\n",
    )
    run(pytester).assert_outcomes(passed=1)


def test_submission_points_the_student_fixture_at_another_folder(pytester: pytest.Pytester, week: Path) -> None:
    write_suite(week, "@pytest.mark.points(1)\ndef test_double(student):\n    student.double(torch.ones(2))\n")
    result = run(pytester, f"--submission={pytester.path / 'exercises'}", "--submission-label=exercises")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*not_implemented: double() is not implemented yet (exercises/week01_basics/basics.py:2)*"]
    )


def test_a_graded_test_without_points_fails_with_what_to_add(pytester: pytest.Pytester, week: Path) -> None:
    write_suite(week, "def test_double(student):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*broken test: *test_double: has no @pytest.mark.points(...)*"])


def test_points_must_be_one_positive_number(pytester: pytest.Pytester, week: Path) -> None:
    write_suite(week, "@pytest.mark.points('two')\ndef test_double(student):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.points takes one positive number*"])


def test_a_test_outside_any_suite_needs_no_points(pytester: pytest.Pytester, week: Path) -> None:
    (week / "test_framework_helper.py").write_text("def test_helper():\n    pass\n")
    run(pytester).assert_outcomes(passed=1)


def test_every_test_of_a_suite_file_needs_points(pytester: pytest.Pytester, week: Path) -> None:
    write_suite(week, "def test_helper():\n    pass\n")
    run(pytester).assert_outcomes(errors=1)


def test_the_timeout_marker_stops_a_hanging_test(pytester: pytest.Pytester, week: Path) -> None:
    write_suite(
        week,
        "@pytest.mark.points(1)\n@pytest.mark.timeout(0.5)\ndef test_hangs(student):\n    while True:\n        pass\n",
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*timeout: timed out after 0.5 s*"])


def test_a_probe_runs_from_its_source_alone(pytester: pytest.Pytester, week: Path) -> None:
    write_suite(
        week,
        "SECRET = 42\n\n"
        "def _uses_a_global(m):\n    return SECRET\n\n"
        "@pytest.mark.points(1)\ndef test_probe(student):\n    student.run(_uses_a_global)\n",
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*NameError: name 'SECRET' is not defined*"])


def test_a_lambda_is_not_a_probe(pytester: pytest.Pytester, week: Path) -> None:
    write_suite(week, "@pytest.mark.points(1)\ndef test_probe(student):\n    student.run(lambda m: 1)\n")
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*run() takes a top-level function of the test module*"])


def test_arguments_are_copies_that_student_code_cannot_change(pytester: pytest.Pytester, week: Path) -> None:
    (pytester.path / "solutions" / "week01_basics" / "basics.py").write_text(
        "def double(x):\n    x.mul_(0)\n    return x\n"
    )
    write_suite(
        week,
        "@pytest.mark.points(1)\ndef test_copy(student):\n    x = torch.ones(2)\n    student.double(x)\n    assert_close(x, torch.ones(2))\n",
    )
    run(pytester).assert_outcomes(passed=1)


def test_a_suite_that_breaks_the_contract_is_refused_before_grading(make_course: MakeCourse) -> None:
    root = make_course(
        suite="import pytest\npytestmark = pytest.mark.exercise('{exercise}')\n\ndef test_no_points(student):\n    pass\n"
    )
    course = load_course(root)
    with pytest.raises(SuiteError, match="has no @pytest.mark.points"):
        grade_week(
            GradeRequest(course=course, week=course.weeks[0], submission=course.solutions_dir, label="solutions")
        )


def test_a_misspelled_marker_is_a_collection_error(make_course: MakeCourse) -> None:
    root = make_course(
        suite="import pytest\npytestmark = pytest.mark.exercise('{exercise}')\n\n@pytest.mark.point(1)\ndef test_typo(student):\n    pass\n"
    )
    course = load_course(root)
    with pytest.raises(SuiteError, match="'point' not found in `markers`"):
        grade_week(
            GradeRequest(course=course, week=course.weeks[0], submission=course.solutions_dir, label="solutions")
        )
