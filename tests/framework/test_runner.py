"""The runner grades every test of a week whatever the learner's code does to its process.

One grading run of a course whose exercises each misbehave in their own way: each failure
mode must fail only its own tests, with a message saying what happened, and never pass.
"""

from __future__ import annotations

import re

import pytest

from grader.core.course import load_course
from grader.core.results import WeekResult
from grader.engine.runner import GradeRequest, grade_week

from .conftest import SOLUTION, STUB, outcomes

HOSTILE = {
    "good": SOLUTION,
    "stub": STUB,
    "loops": SOLUTION.replace("return 2 * x", "while True:\n        pass"),
    "stubborn": SOLUTION.replace(
        "return 2 * x",
        "import time\n    while True:\n        try:\n            time.sleep(60)\n        except BaseException:\n            pass",
    ),
    "exits": SOLUTION.replace("return 2 * x", "import os\n    os._exit(0)"),
    "segfault": SOLUTION.replace("return 2 * x", "import ctypes\n    return ctypes.string_at(0)"),
    "sysexit": SOLUTION.replace("return 2 * x", "import sys\n    sys.exit(0)"),
    "import_boom": "raise RuntimeError('boom at import')\n" + SOLUTION,
    "import_hang": "while True:\n    pass\n" + SOLUTION,
    "syntax": SOLUTION.replace("return 2 * x", "return 2 *"),
    "own_class": SOLUTION.replace(
        "return 2 * x", "class Liar:\n        def __eq__(self, other):\n            return True\n    return Liar()"
    ),
    "misspelled": SOLUTION.replace("def total(", "def totl("),
    "memory_hog": SOLUTION.replace("return 2 * x", "return bytearray(8 * 1024**3)"),
}


@pytest.fixture(scope="module", params=["process", "in-process"])
def hostile_result(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> WeekResult:
    """The hostile week graded with learner code in a sandbox process, and in the grading process."""
    from .conftest import COURSE_TOML, SUITE

    root = tmp_path_factory.mktemp("hostile")
    for kind in ("tests", "solutions", "exercises"):
        (root / kind / "week01_basics").mkdir(parents=True)
    toml = COURSE_TOML.format(timeout=2).replace("[grading]\n", f'[grading]\nsandbox = "{request.param}"\n')
    (root / "course.toml").write_text(toml)
    for name, source in HOSTILE.items():
        (root / "solutions" / "week01_basics" / f"{name}.py").write_text(SOLUTION)
        (root / "exercises" / "week01_basics" / f"{name}.py").write_text(source)
        (root / "tests" / "week01_basics" / f"test_{name}.py").write_text(SUITE.format(exercise=name))
    course = load_course(root)
    request = GradeRequest(course=course, week=course.weeks[0], submission=course.exercises_dir, label="exercises")
    return grade_week(request)


def test_every_test_of_every_exercise_is_graded(hostile_result: WeekResult) -> None:
    assert [e.name for e in hostile_result.exercises] == sorted(HOSTILE)
    assert hostile_result.tests_total == 2 * len(HOSTILE)


def test_a_correct_exercise_passes_next_to_broken_ones(hostile_result: WeekResult) -> None:
    assert outcomes(hostile_result, "good") == {"test_double": ("passed", ""), "test_total_gradient": ("passed", "")}


def test_untouched_stub_is_not_implemented_with_file_and_line(hostile_result: WeekResult) -> None:
    status, message = outcomes(hostile_result, "stub")["test_double"]
    assert status == "not_implemented"
    assert message == "double() is not implemented yet (exercises/week01_basics/stub.py:2)"


@pytest.mark.parametrize("exercise", ["loops", "stubborn"])
def test_an_infinite_loop_times_out_only_its_own_test(hostile_result: WeekResult, exercise: str) -> None:
    found = outcomes(hostile_result, exercise)
    assert found["test_double"][0] == "timeout"
    assert found["test_double"][1].startswith("timed out after 2 s")
    assert found["test_total_gradient"][0] == "passed"


def test_a_time_out_names_the_learners_line_where_the_code_was_stopped(hostile_result: WeekResult) -> None:
    """Issue #16: in the sandbox (its stack dumped while a call runs) and in the grading process alike."""
    status, message = outcomes(hostile_result, "loops")["test_double"]
    assert status == "timeout"
    assert re.fullmatch(
        r"timed out after 2 s; your code was at exercises/week01_basics/loops\.py:[23] when it was stopped", message
    )


def test_os_exit_is_a_crash_not_a_pass(hostile_result: WeekResult) -> None:
    status, message = outcomes(hostile_result, "exits")["test_double"]
    assert status == "crashed"
    assert "exited with code 0" in message
    assert outcomes(hostile_result, "exits")["test_total_gradient"][0] == "passed"


def test_a_segfault_is_a_crash_that_names_the_learners_line(hostile_result: WeekResult) -> None:
    status, message = outcomes(hostile_result, "segfault")["test_double"]
    assert status == "crashed"
    assert message.startswith(("crashed the process (segmentation fault)", "crashed the sandbox (segmentation fault)"))
    assert "exercises/week01_basics/segfault.py:" in message
    assert outcomes(hostile_result, "segfault")["test_total_gradient"][0] == "passed"


def test_sys_exit_fails_the_test_with_a_message(hostile_result: WeekResult) -> None:
    status, message = outcomes(hostile_result, "sysexit")["test_double"]
    assert status == "error"
    assert "called sys.exit(0)" in message


def test_an_exception_at_import_fails_the_whole_exercise_with_file_and_line(hostile_result: WeekResult) -> None:
    for status, message in outcomes(hostile_result, "import_boom").values():
        assert status == "import_error"
        assert message.startswith("exercises/week01_basics/import_boom.py:1: RuntimeError: boom at import")


def test_a_hang_at_import_times_out_once_then_fails_the_rest_of_the_exercise(hostile_result: WeekResult) -> None:
    found = outcomes(hostile_result, "import_hang")
    assert found["test_double"][0] == "timeout"
    assert found["test_double"][1].startswith("timed out after 2 s")
    status, message = found["test_total_gradient"]
    assert status == "import_error"
    assert "import_hang.py took longer than 2 s" in message


def test_a_syntax_error_names_file_and_line(hostile_result: WeekResult) -> None:
    for status, message in outcomes(hostile_result, "syntax").values():
        assert status == "import_error"
        assert message.startswith("exercises/week01_basics/syntax.py:2: SyntaxError")


def test_returning_an_object_of_its_own_class_is_refused(hostile_result: WeekResult) -> None:
    status, message = outcomes(hostile_result, "own_class")["test_double"]
    assert status == "bad_return"
    assert message.startswith("double() returned an object of type")
    assert "Liar" in message


def test_a_misspelled_function_fails_only_its_own_tests(hostile_result: WeekResult) -> None:
    found = outcomes(hostile_result, "misspelled")
    assert found["test_double"][0] == "passed"
    assert found["test_total_gradient"] == (
        "missing",
        "`total` is not defined in exercises/week01_basics/misspelled.py; check its spelling and that it was not deleted",
    )


def test_the_memory_limit_stops_a_huge_allocation(hostile_result: WeekResult) -> None:
    status, message = outcomes(hostile_result, "memory_hog")["test_double"]
    assert status == "error"
    assert "MemoryError" in message


def test_crashes_restart_the_grading_process_only_without_a_sandbox(hostile_result: WeekResult) -> None:
    sandboxed = "sandbox" in outcomes(hostile_result, "segfault")["test_double"][1]
    assert any("restarted" in note for note in hostile_result.notes) != sandboxed


def test_no_crash_or_timeout_ever_earns_points(hostile_result: WeekResult) -> None:
    for exercise in hostile_result.exercises:
        for outcome in exercise.outcomes:
            assert (outcome.points_earned > 0) == (outcome.status == "passed")
