"""grade check finds every problem of a course at once: one good week, one week with one of each."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from grader.authoring.build import build_week
from grader.authoring.check import CourseCheck, check_course
from grader.cli import run
from grader.core.course import load_course

from .conftest import SUITE

COURSE_TOML = """\
[course]
title = "Checked course"

[grading]
timeout = 5

[[weeks]]
id = "week1"
folder = "week01_good"
title = "Good"

[[weeks]]
id = "week2"
folder = "week02_broken"
title = "Broken"
"""

SOLUTION = """\
def double(x):
    # TODO: every entry twice.
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION


def total(x):
    ### BEGIN SOLUTION
    return x.sum()
    ### END SOLUTION
"""

GOOD_MUTANTS = """\
[[mutants]]
name = "triple"
module = "basics"
caught_by = "test_double"
message = "max abs error"
[[mutants.replace]]
old = "return 2 * x"
new = "return 3 * x"

[[mutants]]
name = "hangs"
module = "basics"
caught_by = "test_double"
message = "timed out"
[[mutants.replace]]
old = "return 2 * x"
new = "while True: pass"

[[mutants]]
name = "exits"
module = "basics"
caught_by = "test_double"
message = "the sandbox exited with code 0"
[[mutants.replace]]
old = "return 2 * x"
new = "__import__('os')._exit(0)"
"""

BROKEN_MUTANTS = """\
[[mutants]]
name = "harmless"
module = "basics"
caught_by = "test_double"
[[mutants.replace]]
old = "return 2 * x"
new = "return x * 2"

[[mutants]]
name = "wrong_test_named"
module = "basics"
caught_by = "test_double"
[[mutants.replace]]
old = "return x.sum()"
new = "return x.sum() * 2"

[[mutants]]
name = "stale"
module = "basics"
caught_by = "test_double"
[[mutants.replace]]
old = "return 4 * x"
new = "return 5 * x"
"""

BROKEN_SUITE_EXTRA = """

@pytest.mark.points(1)
@pytest.mark.hint("Remember: return 2 * x")
def test_passes_on_anything(student):
    pass


@pytest.mark.points(1)
@pytest.mark.hint("Scale each entry.", "Deeper still: return x.sum()")
@pytest.mark.parametrize("n", [1, 2])
def test_double_of_a_row(student, n):
    x = torch.full((1, 3), float(n))
    mistakes = {"added one": x + 1, "squared": x * x, "plus one again": x + x / x}
    assert_close(student.double(x), 2 * x, mistakes=mistakes)


def _peek():
    from solutions.week02_broken import basics  # noqa: F401
"""


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CourseCheck]:
    root = tmp_path_factory.mktemp("checked")
    (root / "course.toml").write_text(COURSE_TOML)
    for folder, mutants, extra in (
        ("week01_good", GOOD_MUTANTS, ""),
        ("week02_broken", BROKEN_MUTANTS, BROKEN_SUITE_EXTRA),
    ):
        for kind in ("solutions", "exercises", "tests"):
            (root / kind / folder).mkdir(parents=True)
        (root / "solutions" / folder / "basics.py").write_text(SOLUTION)
        (root / "solutions" / folder / "mutants.toml").write_text(mutants)
        (root / "tests" / folder / "test_basics.py").write_text(SUITE.format(exercise="basics") + extra)
    (root / "solutions" / "week02_broken" / "orphan.py").write_text(SOLUTION)
    course = load_course(root)
    for week in course.weeks:
        build_week(course, week)
    stub = root / "exercises" / "week02_broken" / "basics.py"
    stub.write_text(stub.read_text() + "\n# edited by hand\n")
    (root / "exercises" / "week09_stray").mkdir()
    return root, check_course(course)


def problems_of(result: CourseCheck, week_id: str) -> str:
    (week,) = [w for w in result.weeks if w.week_id == week_id]
    return "\n".join(week.problems)


def test_a_sound_week_checks_out_with_its_mutants_caught(checked: tuple[Path, CourseCheck]) -> None:
    _, result = checked
    (week,) = [w for w in result.weeks if w.week_id == "week1"]
    assert week.problems == ()
    # the mutants that hang and that end their sandbox are graded on the same warm workers as the rest
    assert (week.mutants_caught, len(week.mutants)) == (3, 3)


def test_stubs_out_of_sync_with_the_solutions(checked: tuple[Path, CourseCheck]) -> None:
    assert (
        "exercises/week02_broken/basics.py differs from what grade build writes; run grade build week2"
        in problems_of(checked[1], "week2")
    )


def test_a_mutant_the_suite_does_not_catch(checked: tuple[Path, CourseCheck]) -> None:
    assert "mutant harmless: scores full marks (basics); the suite does not catch it" in problems_of(
        checked[1], "week2"
    )


def test_a_mutant_caught_by_another_test_than_the_one_named(checked: tuple[Path, CourseCheck]) -> None:
    assert (
        "mutant wrong_test_named: loses points but test_double passes (tests that fail: test_total_gradient)"
        in problems_of(checked[1], "week2")
    )


def test_a_mutant_whose_edit_no_longer_applies(checked: tuple[Path, CourseCheck]) -> None:
    assert "mutant stale: mutant stale: its old text is not found in week02_broken/basics.py" in problems_of(
        checked[1], "week2"
    )


def test_a_test_that_passes_on_the_untouched_stubs(checked: tuple[Path, CourseCheck]) -> None:
    assert "test_passes_on_anything passes; it must fail with 'not implemented yet'" in problems_of(checked[1], "week2")


def test_an_exercise_without_tests(checked: tuple[Path, CourseCheck]) -> None:
    assert "exercise week02_broken/orphan.py has no test in tests/week02_broken/" in problems_of(checked[1], "week2")


def test_a_test_file_importing_the_solutions(checked: tuple[Path, CourseCheck]) -> None:
    problems = problems_of(checked[1], "week2")
    assert "tests/week02_broken/test_basics.py:" in problems
    assert (
        ": imports solutions.week02_broken; tests reach code only through the student and reference fixtures"
        in problems
    )


def test_a_hint_that_quotes_the_solution(checked: tuple[Path, CourseCheck]) -> None:
    assert "quotes the solution: 'return 2 * x'" in problems_of(checked[1], "week2")


def test_a_deeper_level_of_a_hint_that_quotes_the_solution(checked: tuple[Path, CourseCheck]) -> None:
    assert (
        "level 2 of the hint of tests/week02_broken/test_basics.py::test_double_of_a_row[1] quotes the solution: 'return x.sum()'"
        in problems_of(checked[1], "week2")
    )


def test_two_named_mistakes_with_one_value_on_the_tests_inputs_are_a_problem(checked: tuple[Path, CourseCheck]) -> None:
    """Issue #16: the first mistake listed would be named for both, sending the learner the wrong way."""
    test = "tests/week02_broken/test_basics.py::test_double_of_a_row"
    found = [p for p in problems_of(checked[1], "week2").splitlines() if p.startswith(test)]
    assert found == [
        f"{test}: result: the mistakes 'added one' and 'plus one again' give the same value, "
        "so the first is named for both (case [2])",
    ]


def test_a_named_mistake_that_gives_the_right_answer_on_a_case_is_a_note(checked: tuple[Path, CourseCheck]) -> None:
    """On a batch of one, sum and mean agree: that case cannot show the mistake (others may), and
    it names nothing wrongly, so the author is told, and the check still passes on it."""
    from grader import testing
    from grader.authoring import check

    test = "tests/week02_broken/test_basics.py::test_double_of_a_row"
    (week,) = [w for w in checked[1].weeks if w.week_id == "week2"]
    assert [n for n in week.notes if n.startswith(test)] == [
        f"{test}: result: the mistake 'added one' gives the right answer, so it can never be named (case [1])",
        f"{test}: result: the mistake 'plus one again' gives the right answer, so it can never be named (case [1])",
        f"{test}: result: the mistake 'squared' gives the right answer, so it can never be named (case [2])",
    ]
    assert check.RIGHT_ANSWER_FINDING == testing.RIGHT_ANSWER_FINDING


def test_a_week_folder_that_course_toml_does_not_list(checked: tuple[Path, CourseCheck]) -> None:
    assert checked[1].problems == (
        "exercises/week09_stray/ is not a week of course.toml; add a [[weeks]] entry for it or remove the folder",
    )


def test_the_command_exits_1_and_lists_the_problems(checked: tuple[Path, CourseCheck], tmp_path: Path) -> None:
    import io

    from rich.console import Console

    root = tmp_path / "course"
    shutil.copytree(checked[0], root)
    out = io.StringIO()
    code = run(["check", "week2", "--course", str(root)], console=Console(file=out, width=200))
    assert code == 1
    # a line per week with mutants caught / total and its time, even when the output is not a terminal
    assert re.search(r"✗ week2: \d+ problem\(s\), 0/3 mutants caught, \d+ s\n", out.getvalue())
    assert "- mutant harmless: scores full marks (basics); the suite does not catch it" in out.getvalue()


EXTRA_SUITE = """\
import pytest
import torch

from grader.testing import assert_close

pytestmark = pytest.mark.exercise("extra")


@pytest.mark.points(1)
@pytest.mark.hint("add one to every entry")
def test_plus_one(student):
    x = torch.arange(3.0)
    assert_close(student.plus_one(x), x + 1)
"""

NAMED_ELSEWHERE = """
[[mutants]]
name = "named_elsewhere"
module = "basics"
caught_by = "test_plus_one"
[[mutants.replace]]
old = "return x.sum()"
new = "return x.sum() * 2"
"""


def test_a_mutant_is_graded_on_its_own_module_s_tests_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other modules of a mutant's week are the reference: grading them again would only cost
    (every one of the course's mutants is caught by a test of its own module).  A mutant whose
    test lives elsewhere is graded on the whole week, so that its finding names the right tests."""
    from grader.authoring import check

    root = tmp_path / "course"
    root.mkdir()
    (root / "course.toml").write_text(COURSE_TOML.split('\n[[weeks]]\nid = "week2"')[0])
    folder = "week01_good"
    for kind in ("solutions", "exercises", "tests"):
        (root / kind / folder).mkdir(parents=True)
    (root / "solutions" / folder / "basics.py").write_text(SOLUTION)
    (root / "solutions" / folder / "extra.py").write_text(
        "def plus_one(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
    )
    triple = GOOD_MUTANTS.split('\n[[mutants]]\nname = "hangs"')[0]
    (root / "solutions" / folder / "mutants.toml").write_text(triple + NAMED_ELSEWHERE)
    (root / "tests" / folder / "test_basics.py").write_text(SUITE.format(exercise="basics"))
    (root / "tests" / folder / "test_extra.py").write_text(EXTRA_SUITE)
    course = load_course(root)
    build_week(course, course.weeks[0])
    runs: list[tuple[str, str | None]] = []
    grade = check._Grader.grade

    def recorded(self: check._Grader, root: Path, label: str, *, exercise: str | None = None) -> object:
        runs.append((label, exercise))
        return grade(self, root, label, exercise=exercise)

    monkeypatch.setattr(check._Grader, "grade", recorded)
    (week,) = check_course(course).weeks
    assert sorted(runs, key=str) == sorted(
        [
            ("solutions", None),
            ("exercises", None),
            ("mutants/triple", "basics"),
            ("mutants/named_elsewhere", "basics"),
            ("mutants/named_elsewhere", None),  # test_plus_one is not among basics' tests: the whole week
        ],
        key=str,
    )
    assert [m.name for m in week.mutants if m.caught] == ["triple"]
    assert week.problems == (
        "mutant named_elsewhere: loses points but test_plus_one passes (tests that fail: test_total_gradient)",
    )


def test_named_mistakes_are_checked_against_each_other_on_the_reference_s_run_only(
    checked: tuple[Path, CourseCheck], tmp_path: Path
) -> None:
    """A learner's copy of the very same code gets no findings: nobody reads them there, and
    looking cost about 40 ms of a week-5 submission."""
    from grader.engine.runner import GradeRequest, grade_week

    root, _ = checked
    course = load_course(root)
    week = course.resolve("week2")
    learner = tmp_path / "learner"
    shutil.copytree(course.solutions_dir / week.folder, learner / week.folder)
    findings = {}
    for label, submission in (("reference", course.solutions_dir), ("learner", learner)):
        result = grade_week(GradeRequest(course, week, submission, label))
        findings[label] = [f for e in result.exercises for o in e.outcomes for f in o.findings]
    assert findings["reference"] and findings["learner"] == []
