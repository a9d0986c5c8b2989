"""The grade command: exit codes, JSON output, the course overview, and a light import."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from grader.cli import run

from .conftest import SOLUTION, MakeCourse


def grade(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), console=Console(file=out, width=120), err_console=Console(file=err, width=120))
    return code, out.getvalue(), err.getvalue()


def test_untouched_stubs_exit_1_with_one_not_implemented_line_per_function(make_course: MakeCourse) -> None:
    root = make_course()
    code, out, _ = grade("week1", "--course", str(root))
    assert code == 1
    assert "exercises/week01_basics/basics.py" in out
    assert "exercises/week01_basics/basics.py\n  · double() is not implemented yet (line 2): 1 test, 2 pt" in out
    assert "· total() is not implemented yet (line 6): 1 test, 1 pt" in out
    assert "0/3 points" in out


def test_the_reference_exits_0(make_course: MakeCourse) -> None:
    code, out, _ = grade("1", "--solutions", "--course", str(make_course()))
    assert code == 0
    assert "3/3 points" in out


def test_json_output_follows_the_documented_schema(make_course: MakeCourse) -> None:
    root = make_course({"basics": SOLUTION.replace("return 2 * x", "return 3 * x")})
    code, out, _ = grade("week01", "--json", "--course", str(root))
    assert code == 1
    data = json.loads(out)
    assert data["schema_version"] == 1
    assert data["week"] == {"id": "week1", "title": "Basics", "folder": "week01_basics"}
    assert (data["points_earned"], data["points_possible"], data["tests_passed"], data["tests_total"]) == (1, 3, 1, 2)
    (exercise,) = data["exercises"]
    assert exercise["file"] == "exercises/week01_basics/basics.py"
    assert {t["name"]: t["status"] for t in exercise["tests"]} == {
        "test_double": "failed",
        "test_total_gradient": "passed",
    }
    assert exercise["tests"][0]["message"].startswith("result: max abs error 5 at index [1, 2] (expected 10, got 15;")
    keys = {
        "id",
        "name",
        "status",
        "points_earned",
        "points_possible",
        "message",
        "hint",
        "diagnosis",
        "detail",
        "duration_s",
        "public",
    }
    assert set(exercise["tests"][0]) == keys


def test_a_grade_of_exercises_is_stored_and_listed(make_course: MakeCourse) -> None:
    root = make_course()
    grade("week1", "--course", str(root))
    (stored,) = json.loads((root / ".grade" / "history.json").read_text())["weeks"]["week1"]
    assert stored["points_earned"] == 0 and stored["points_possible"] == 3
    code, out, _ = grade("list", "--course", str(root))
    assert code == 0
    assert "week1" in out and "Basics" in out and "0/3" in out


def test_grading_the_solutions_does_not_overwrite_the_learners_score(make_course: MakeCourse) -> None:
    root = make_course()
    grade("week1", "--course", str(root))
    grade("week1", "--solutions", "--course", str(root))
    (stored,) = json.loads((root / ".grade" / "history.json").read_text())["weeks"]["week1"]
    assert stored["points_earned"] == 0


def test_exercise_grades_one_exercise(make_course: MakeCourse) -> None:
    root = make_course({"basics": SOLUTION, "other": SOLUTION})
    code, out, _ = grade("week1", "--exercise", "other", "--json", "--course", str(root))
    assert code == 0
    assert [e["name"] for e in json.loads(out)["exercises"]] == ["other"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["week9"], "no week 'week9' in this course; did you mean 'week1'?"),
        (
            ["week1", "--exercise", "nope"],
            "--exercise nope: there is no exercises/week01_basics/nope.py; the exercises are: basics",
        ),
        (["week1", "--path", "/no/such/folder"], "--path /no/such/folder: no such folder"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(make_course: MakeCourse, argv: list[str], message: str) -> None:
    code, out, err = grade(*argv, "--course", str(make_course()))
    assert code == 2
    assert message in " ".join(err.split())
    assert out == ""


def test_a_broken_course_file_exits_2_naming_the_file(make_course: MakeCourse) -> None:
    root = make_course()
    (root / "course.toml").write_text("surprise = 1\n" + (root / "course.toml").read_text())
    code, _, err = grade("week1", "--course", str(root))
    assert code == 2
    assert "course.toml:1: unknown key 'surprise' in top level" in " ".join(err.split())


def test_outside_a_course_the_error_says_where_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = grade("week1")
    assert code == 2
    assert "no course.toml in" in err


def test_importing_the_cli_does_not_import_torch() -> None:
    code = "import sys, grader.cli; sys.exit('torch' in sys.modules or 'numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_importing_the_cli_leaves_the_instructors_batch_machinery_unloaded() -> None:
    """`grade week5` starts fast: the gradebook, intake and batch modules load only for batch (#7)."""
    heavy = ("grader.classroom.batch", "grader.classroom.gradebook", "grader.classroom.intake", "grader.classroom.export", "sqlite3")
    code = f"import sys, grader.cli; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]"


def test_the_console_script_is_installed() -> None:
    completed = subprocess.run(["grade", "--version"], capture_output=True, text=True)
    assert completed.returncode == 0 and completed.stdout.startswith("grade ")


def test_a_wrong_answer_shows_its_message_and_hint(make_course: MakeCourse) -> None:
    root = make_course({"basics": SOLUTION.replace("return 2 * x", "return 3 * x")})
    code, out, _ = grade("week1", "--course", str(root))
    assert code == 1
    assert "✗ test_double (2 pt): result: max abs error 5 at index [1, 2]" in out
    assert "hint: multiply every entry" in out
    assert "1/3 points" in out
