"""``%grade`` for Jupyter: ``%load_ext grader`` then ``%grade week5`` (or ``%grade week5 losses``)
grades the notebook's current definitions of the week's functions and shows the report as HTML
in the cell's output.

What is graded is the text of the cells the kernel has run, in the order it ran them (IPython's
input history, the ``In`` list), turned into the week's modules like any notebook; the grading
runs in a child process and the learner's code in the sandbox.  None of it is executed in the
notebook's own kernel as part of grading.  The report is ``report.render_week`` drawn on a
recording rich console and exported as HTML, so it says exactly what ``grade week5`` says.
"""

from __future__ import annotations

import html
import io
import shlex
from pathlib import Path
from typing import Any

from rich.console import Console

from ..core.errors import GraderError, UsageError
from . import report

USAGE = "usage: %grade WEEK [EXERCISE] [--course DIR], e.g. %grade week5 or %grade week5 losses"


def register(ipython: Any) -> None:
    """Add the ``%grade`` line magic to a running IPython (called by ``%load_ext grader``)."""

    def grade_magic(line: str) -> Any:
        from IPython.display import HTML

        cells = list(ipython.history_manager.input_hist_raw)
        return HTML(grade_html(line, cells))  # type: ignore[no-untyped-call]

    ipython.register_magic_function(grade_magic, magic_kind="line", magic_name="grade")


def grade_html(line: str, cells: list[str]) -> str:
    """The report for ``%grade LINE`` over ``cells`` as HTML; an error is a short red message."""
    from ..learner.grading import grade_cells, open_course

    try:
        week, exercise, course_dir = _arguments(line)
        course = open_course(course_dir)
        result = grade_cells(course=course, week=week, cells=cells, exercise=exercise)
    except GraderError as exc:
        return f'<pre style="color: #c00">error: {html.escape(exc.message)}</pre>'
    console = Console(record=True, file=io.StringIO(), width=110, color_system="truecolor")
    report.render_week(console, result)
    return console.export_html(inline_styles=True)


def _arguments(line: str) -> tuple[str, str | None, Path | None]:
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"{exc}; {USAGE}") from None
    course: Path | None = None
    if "--course" in words:
        at = words.index("--course")
        if at + 1 >= len(words):
            raise UsageError(f"--course needs a folder; {USAGE}")
        course = Path(words[at + 1]).expanduser()
        del words[at : at + 2]
    if not 1 <= len(words) <= 2 or any(w.startswith("-") for w in words):
        raise UsageError(USAGE)
    return words[0], (words[1] if len(words) == 2 else None), course
