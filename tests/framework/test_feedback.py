"""Feedback that names the real mistake (issue #16): the hint of the mistake found, the most
specific diagnosis first, each hint once, and one line for a file that does not import."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from grader.cli.report import render_week
from grader.core.results import ExerciseResult, TestInfo, TestOutcome, WeekResult
from grader.learner.grading import grade, open_course, plan

from .conftest import SOLUTION, MakeCourse, course_writer

FILE = "exercises/week05_probability/information.py"


def info(name: str, hint: str = "the test's hint", points: float = 1) -> TestInfo:
    return TestInfo(id=f"tests/week05_probability/test_information.py::{name}", name=name, exercise="information",
                    points=points, hint=hint)  # fmt: skip


def failed(name: str, message: str, *, diagnosis: str = "", function: str = "", hint: str = "",
           test_hint: str = "the test's hint", status: str = "failed") -> TestOutcome:  # fmt: skip
    return TestOutcome(info(name, test_hint), status, message, hint=hint, diagnosis=diagnosis, function=function)  # type: ignore[arg-type]


def rendered(*outcomes: TestOutcome) -> str:
    result = WeekResult("course", "week5", "Probability", "week05_probability", "exercises",
                        (ExerciseResult("information", FILE, outcomes),))  # fmt: skip
    out = io.StringIO()
    render_week(Console(file=out, width=200), result)
    return out.getvalue()


def test_the_hint_of_the_mistake_found_replaces_the_tests_hint() -> None:
    out = rendered(failed("test_entropy", "in bits where nats were asked", diagnosis="mistake",
                          hint="torch.log is the natural logarithm", test_hint="0 · log 0 counts as 0"))  # fmt: skip
    assert "hint: torch.log is the natural logarithm" in out
    assert "0 · log 0" not in out


def test_a_failure_without_a_hint_of_its_own_shows_the_tests_hint() -> None:
    assert "hint: the test's hint" in rendered(failed("test_entropy", "max abs error 0.3", diagnosis="value"))


def test_a_functions_named_mistake_leads_its_bare_value_mismatches() -> None:
    out = rendered(
        failed("test_entropy_of_uniform", "result: max abs error 0.2", diagnosis="value", function="entropy"),
        failed("test_kl_is_zero_on_equal", "result: max abs error 0.1", diagnosis="value", function="kl_divergence"),
        failed("test_entropy_matches_torch", "in bits where nats were asked", diagnosis="mistake", function="entropy"),
    )
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("✗")]
    assert [line.split(" ")[1] for line in lines] == [
        "test_entropy_matches_torch", "test_entropy_of_uniform", "test_kl_is_zero_on_equal",
    ]  # fmt: skip


def test_a_hint_shared_by_several_failing_tests_is_shown_once() -> None:
    out = rendered(
        failed("test_a", "result: max abs error 0.2", function="entropy", test_hint="weigh each surprise"),
        failed("test_b", "result: max abs error 0.3", function="entropy", test_hint="weigh each surprise"),
    )
    assert out.count("hint: weigh each surprise") == 1


def test_a_file_that_does_not_import_is_one_line_for_all_its_tests() -> None:
    message = (
        f"{FILE}:3: SyntaxError: invalid syntax; the file cannot be imported, so none of its functions can be graded"
    )
    out = rendered(*(failed(f"test_{i}", message, status="import_error") for i in range(20)))
    assert out.count("SyntaxError") == 1
    assert (
        "line 3: SyntaxError: invalid syntax; the file cannot be imported, so none of its functions can be graded: 20 tests, 20 pt"
        in out
    )


SUITE_WITH_MISTAKES = """\
import pytest
import torch

from grader.testing import Mistake, assert_close

pytestmark = pytest.mark.exercise("{exercise}")


@pytest.mark.points(2)
@pytest.mark.hint("multiply every entry", "two times each entry: no sum, no square")
def test_double(student):
    x = torch.arange(6.0).reshape(2, 3)
    assert_close(
        student.double(x),
        2 * x,
        mistakes={{"squared instead of doubled": Mistake(x * x, hint="doubling is x + x"), "same as squaring": x * x}},
        hints={{"shape": "keep the shape of x"}},
    )


@pytest.mark.points(1)
def test_total(student):
    assert_close(student.total(torch.ones(2, 2)), torch.tensor(4.0))
"""


def test_a_mistakes_hint_and_kind_reach_the_result_from_the_grading_child(make_course: MakeCourse) -> None:
    root = make_course({"basics": SOLUTION.replace("return 2 * x", "return x * x")}, suite=SUITE_WITH_MISTAKES)
    course = open_course(root)
    result = grade(plan(course=course, week="week1", path=root / "exercises"))
    outcome = {o.info.name: o for o in result.exercises[0].outcomes}["test_double"]
    assert (outcome.message, outcome.diagnosis, outcome.hint, outcome.function) == (
        "squared instead of doubled", "mistake", "doubling is x + x", "double",
    )  # fmt: skip
    assert outcome.info.hint_levels == ("multiply every entry", "two times each entry: no sum, no square")


def test_the_reference_run_records_named_mistakes_that_cannot_be_told_apart(make_course: MakeCourse) -> None:
    root = make_course({"basics": SOLUTION}, suite=SUITE_WITH_MISTAKES)
    result = grade(plan(course=open_course(root), week="week1", solutions=True))
    outcome = {o.info.name: o for o in result.exercises[0].outcomes}["test_double"]
    assert outcome.passed
    assert outcome.findings == (
        "result: the mistakes 'squared instead of doubled' and 'same as squaring' give the same value, "
        "so the first is named for both",
    )


NOISY = {
    "printer": SOLUTION.replace("return 2 * x", "for i in range(100):\n        print('step', i)\n    return 3 * x"),
    "flood": SOLUTION.replace("return 2 * x", "for i in range(100_000):\n        print('x' * 1000)\n    return 2 * x"),
}


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> WeekResult:
    """Learner code that prints, graded in the sandbox (the course's default)."""
    root = course_writer(tmp_path_factory.mktemp("noisy"))(NOISY)
    return grade(plan(course=open_course(root), week="week1"))


def test_what_a_failing_tests_code_printed_is_kept_bounded_to_its_last_lines(noisy: WeekResult) -> None:
    (outcome,) = [o for e in noisy.exercises if e.name == "printer" for o in e.outcomes if o.info.name == "test_double"]
    assert outcome.status == "failed"
    assert outcome.output.splitlines() == [f"step {i}" for i in range(80, 100)]
    out = io.StringIO()
    render_week(Console(file=out, width=200), noisy, verbose=True)
    assert "your code printed (the last lines):" in out.getvalue() and "step 99" in out.getvalue()
    quiet = io.StringIO()
    render_week(Console(file=quiet, width=200), noisy)
    assert "step 99" not in quiet.getvalue()


def test_a_passing_test_keeps_nothing_of_what_was_printed(noisy: WeekResult) -> None:
    assert all(o.output == "" for e in noisy.exercises for o in e.outcomes if o.passed)


def test_hitting_the_output_limit_says_so(noisy: WeekResult) -> None:
    (outcome,) = [o for e in noisy.exercises if e.name == "flood" for o in e.outcomes if o.info.name == "test_double"]
    assert outcome.status == "error"
    assert outcome.message.startswith(
        "your code printed or wrote more than a test may (exercises/week01_basics/flood.py:"
    )
    assert "File too large" not in outcome.message


def test_a_learners_exported_feedback_carries_the_mistakes_own_hint() -> None:
    """grade export feedback shows what grade WEEK shows: the named mistake's hint, not the test's."""
    from grader.classroom.feedback import failure_lines

    exercise = ExerciseResult("basics", "basics.py", (failed("test_a", "wrong", hint="the mistake's hint"),))
    (line,) = failure_lines(exercise)
    assert line.hint == "the mistake's hint"
