"""Notebooks as a learner's submission: ``grade WEEK --path work.ipynb`` (or a folder of notebooks)
grades the notebook's definitions in the sandbox, and ``%grade`` inside a running notebook does
the same with the kernel's input history, rendering the report as HTML in the cell's output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import COURSE_TOML, SOLUTION, STUB, SUITE, MakeCourse
from .test_cli import grade

nbformat = pytest.importorskip("nbformat")


def write_notebook(path: Path, *cells: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(notebook, str(path))
    return path


WRONG_DOUBLE = "def double(x):\n    return 3 * x\n"
TOTAL = "def total(x):\n    return x.sum()\n"


def test_grade_path_a_notebook_grades_its_definitions_and_not_its_other_statements(
    make_course: MakeCourse, tmp_path: Path
) -> None:
    root = make_course()
    work = write_notebook(
        tmp_path / "work.ipynb",
        "import torch",
        WRONG_DOUBLE,
        "raise SystemExit('a cell that is not a definition')",
        TOTAL,
    )
    code, out, _ = grade("week1", "--path", str(work), "--json", "--course", str(root))
    assert code == 1
    data = json.loads(out)
    assert (data["points_earned"], data["points_possible"]) == (1, 3)
    assert data["exercises"][0]["file"] == f"{work}/week01_basics/basics.py"
    assert any("1 top-level statement(s) that are not definitions were left out" in note for note in data["notes"])
    assert not (root / ".grade" / "history.json").exists()  # only exercises/ is stored as a run


def test_grade_path_a_folder_of_notebooks_takes_each_exercise_from_its_own_notebook(
    make_course: MakeCourse, tmp_path: Path
) -> None:
    root = make_course({"basics": SOLUTION, "other": SOLUTION})
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "basics.ipynb", SOLUTION)
    write_notebook(folder / "other.ipynb", WRONG_DOUBLE + "\n\n" + TOTAL)
    code, out, _ = grade("week1", "--path", str(folder), "--json", "--course", str(root))
    assert code == 1
    points = {e["name"]: e["points_earned"] for e in json.loads(out)["exercises"]}
    assert points == {"basics": 3, "other": 1}


def test_grade_path_an_unreadable_notebook_is_a_usage_error(make_course: MakeCourse, tmp_path: Path) -> None:
    broken = tmp_path / "work.ipynb"
    broken.write_text("{ not a notebook")
    code, _, err = grade("week1", "--path", str(broken), "--course", str(make_course()))
    assert code == 2 and "work.ipynb is not a readable notebook" in " ".join(err.split())


nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

KERNEL_PID_CHECK = """
import os, pathlib
def double(x):
    pathlib.Path({marker!r}).write_text(str(os.getpid()))  # where does this run?
    return 3 * x
"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], str, Path]:  # type: ignore[type-arg]
    """A real notebook run by nbclient on an ipykernel (started once for this module): it loads the
    extension, defines the week's functions (double() wrong) and calls %grade twice (the week, and
    an exercise that does not exist)."""
    tmp_path = tmp_path_factory.mktemp("notebook")
    root = tmp_path / "course"
    for kind, source in (("solutions", SOLUTION), ("exercises", STUB), ("tests", SUITE.format(exercise="basics"))):
        (root / kind / "week01_basics").mkdir(parents=True)
        name = "test_basics.py" if kind == "tests" else "basics.py"
        (root / kind / "week01_basics" / name).write_text(source)
    (root / "course.toml").write_text(COURSE_TOML.format(timeout=5))
    marker = tmp_path / "double-ran-in.txt"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext grader"),
        nbformat.v4.new_code_cell("import os\nkernel_pid = os.getpid()\nprint(kernel_pid)"),
        nbformat.v4.new_code_cell(KERNEL_PID_CHECK.format(marker=str(marker))),
        nbformat.v4.new_code_cell(TOTAL),
        nbformat.v4.new_code_cell("%grade week1"),
        nbformat.v4.new_code_cell("%grade week1 nope"),
    ]
    client = nbclient.NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(root)}}
    )
    client.execute()
    return [cell.outputs for cell in notebook.cells], marker.read_text() if marker.exists() else "", root


def _html(outputs: list[dict]) -> str:  # type: ignore[type-arg]
    (output,) = [o for o in outputs if o.get("output_type") == "execute_result"]
    return str(output["data"]["text/html"])


def test_the_grade_magic_renders_the_report_as_html_with_the_failing_test_and_its_hint(executed) -> None:  # type: ignore[no-untyped-def]
    outputs, _, _ = executed
    report = _html(outputs[4])
    assert "<table" in report or "<pre" in report
    text = " ".join(report.replace("&#x27;", "'").split())
    assert "test_double" in text and "multiply every entry" in text  # the failing test and its hint
    assert "1/3 points" in text
    assert "notebook/week01_basics/basics.py" in text


def test_the_grade_magic_never_runs_the_learners_code_in_the_kernel(executed) -> None:  # type: ignore[no-untyped-def]
    outputs, ran_in, _ = executed
    kernel_pid = outputs[1][0]["text"].strip()
    assert ran_in != kernel_pid  # graded in the sandbox (which may not even reach this folder)


def test_the_grade_magic_says_what_is_wrong_with_its_arguments(executed) -> None:  # type: ignore[no-untyped-def]
    outputs, _, _ = executed
    assert "--exercise nope: there is no notebook/week01_basics/nope.py" in _html(outputs[5])
