"""One error tree, rendered once (issue #13): a missing optional extra, a gradebook problem and an
export target problem each have their own error class, exit 2 and say what to do; none is a
traceback.  Each test was checked to fail before its fix."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from grader.classroom.gradebook import DEFAULT_NAME, Gradebook
from grader.core.errors import ExportError, GradebookError, GraderError, MissingExtraError

from .conftest import MakeCourse
from .test_cli import grade

ROOT = Path(__file__).resolve().parents[2]


def _empty_gradebook(root: Path) -> None:
    with Gradebook.open(root / DEFAULT_NAME, create=True):
        pass


def test_export_csv_into_a_folder_that_does_not_exist_exits_2_and_says_what_to_do(
    make_course: MakeCourse, tmp_path: Path
) -> None:
    root = make_course()
    _empty_gradebook(root)
    out = tmp_path / "no" / "such" / "dir" / "x.csv"
    code, _, err = grade("export", "csv", "week1", "--course", str(root), "--out", str(out))
    assert code == 2
    assert "Traceback" not in err and "FileNotFoundError" not in err
    assert f"{out.parent} does not exist" in err
    assert "create it" in err


def test_export_gradescope_creates_the_out_folder_it_is_given(tmp_path: Path) -> None:
    out = tmp_path / "newdir"
    code, _, err = grade("export", "gradescope", "week5", "--course", str(ROOT), "--out", str(out))
    assert code == 0, err
    with zipfile.ZipFile(out / "gradescope-week5.zip") as archive:
        assert "run_autograder" in archive.namelist()


def test_export_without_a_gradebook_is_a_gradebook_error(make_course: MakeCourse) -> None:
    code, _, err = grade("export", "csv", "week1", "--course", str(make_course()))
    assert code == 2
    assert "no gradebook here" in err and "grade batch" in err


def test_a_missing_optional_extra_exits_2_and_names_the_install_command(
    make_course: MakeCourse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_course()
    _empty_gradebook(root)
    monkeypatch.setitem(sys.modules, "nbgrader", None)  # as if the instructor extra were not installed
    code, _, err = grade("export", "nbgrader", "week1", "--course", str(root), "--db", str(tmp_path / "nb.db"))
    assert code == 2
    assert 'pip install -e ".[instructor]"' in " ".join(err.split())


def test_the_new_errors_belong_to_the_one_tree_with_exit_code_2() -> None:
    for error in (MissingExtraError, GradebookError, ExportError):
        assert issubclass(error, GraderError) and error.exit_code == 2


def test_an_error_of_several_lines_is_shown_as_lines(make_course: MakeCourse, bwrap_that_cannot_mount: None) -> None:
    """A sandbox that cannot start stops grading with the reason on one line and what to do on
    the next; the renderer once wrote every newline of a message as a visible "\\n"."""
    from .conftest import SOLUTION

    root = make_course({"basics": SOLUTION}, timeout=30)
    code, out, err = grade("week1", "--course", str(root))
    assert code == 2 and "Traceback" not in err
    assert "\\n" not in err
    lines = err.splitlines()
    assert lines[0].startswith("error: the sandbox for learner code cannot start on this machine")
    assert any(line.startswith("Nothing was graded") for line in lines[1:])
