"""Stubs from solutions: each ``### BEGIN SOLUTION`` … ``### END SOLUTION`` region of a reference
file becomes the course's stub line, using nbgrader's own ``ClearSolutions`` preprocessor.

Solutions are the single source; ``exercises/`` is derived, committed, and checked to be in sync
(``grade check``).  The ``# TODO:`` comments above a region stay, so the stub still guides.
Delimiters are validated first, so a missing END or a nested BEGIN is reported with file and
line rather than as nbgrader's bare RuntimeError.  Building never loses a learner's work: a
file in ``exercises/`` that differs from what is written over it is first copied to
``.grade/backups/``.
"""

from __future__ import annotations

import ast
import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..core.course import Course, Week
from ..core.errors import BuildError, MissingExtraError

BEGIN: Final = "### BEGIN SOLUTION"
END: Final = "### END SOLUTION"
_NAME_MARK: Final = "__GRADER_REGION_FUNCTION__"


@dataclass(frozen=True)
class Region:
    """One solution region: where it is, the function it is in, and the lines it hides."""

    begin_line: int  # 1-based line of ### BEGIN SOLUTION
    end_line: int
    function: str
    lines: tuple[str, ...]


def solution_regions(source: str, *, filename: str) -> list[Region]:
    """The regions of a solution file; unbalanced or nested delimiters are a BuildError with file:line."""
    lines = source.split("\n")
    regions: list[Region] = []
    begin: int | None = None
    for number, line in enumerate(lines, start=1):
        if BEGIN in line:
            if begin is not None:
                raise BuildError(
                    f"{filename}:{number}: {BEGIN} inside the region opened at line {begin}; regions cannot nest"
                )
            begin = number
        elif END in line:
            if begin is None:
                raise BuildError(f"{filename}:{number}: {END} without a {BEGIN} before it")
            regions.append(Region(begin, number, "", tuple(lines[begin : number - 1])))
            begin = None
    if begin is not None:
        raise BuildError(f"{filename}:{begin}: {BEGIN} is never closed; add {END} after the solution")
    functions = _enclosing_functions(source, filename=filename, lines=[r.begin_line for r in regions])
    return [Region(r.begin_line, r.end_line, f, r.lines) for r, f in zip(regions, functions, strict=True)]


def stub_source(source: str, *, filename: str, stub: str) -> str:
    """The stub of a solution file: every region replaced by ``stub`` (``{name}`` = its function)."""
    regions = solution_regions(source, filename=filename)
    if not regions:
        return source
    if _NAME_MARK in source:
        raise BuildError(f"{filename}: contains the reserved text {_NAME_MARK}")
    cleared = _clear_solutions(source, stub.replace("{name}", _NAME_MARK))
    parts = cleared.split(_NAME_MARK)
    per_region = stub.count("{name}")
    names = [r.function for r in regions for _ in range(per_region)]
    assert len(parts) == len(names) + 1, "ClearSolutions replaced a different number of regions"
    out = parts[0]
    for name, part in zip(names, parts[1:], strict=True):
        out += name + part
    return out


def _clear_solutions(source: str, code_stub: str) -> str:
    """nbgrader's ClearSolutions on the file as a single code cell."""
    try:
        import nbformat
        from nbgrader.preprocessors import ClearSolutions
    except ImportError:
        raise MissingExtraError("nbgrader", for_what="building stubs") from None
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])  # type: ignore[no-untyped-call]
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    clear = ClearSolutions(
        code_stub={"python": code_stub},
        begin_solution_delimeter=BEGIN,
        end_solution_delimeter=END,
        enforce_metadata=False,
    )
    notebook, _ = clear.preprocess(notebook, {})
    return str(notebook.cells[0].source)


def _enclosing_functions(source: str, *, filename: str, lines: list[int]) -> list[str]:
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise BuildError(f"{filename}:{exc.lineno}: the solution does not parse: {exc.msg}") from None
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    names = []
    for line in lines:
        around = [f for f in functions if f.lineno <= line <= (f.end_lineno or f.lineno)]
        innermost = max(around, key=lambda f: f.lineno, default=None)
        names.append(innermost.name if innermost else Path(filename).stem)
    return names


@dataclass(frozen=True)
class BuiltFile:
    """One stub written (or found up to date) by ``build_week``."""

    path: Path
    changed: bool
    backup: Path | None = None


def expected_stubs(course: Course, week: Week) -> dict[Path, str]:
    """What exercises/<week>/ must hold: the stub of each solution module, by destination path."""
    folder = course.solutions_dir / week.folder
    if not folder.is_dir():
        raise BuildError(f"{folder} does not exist; building stubs needs the reference solutions")
    stubs = {}
    for solution in sorted(folder.glob("*.py")):
        shown = solution.relative_to(course.root).as_posix()
        text = solution.read_text(encoding="utf-8")
        stubs[course.exercises_dir / week.folder / solution.name] = stub_source(
            text, filename=shown, stub=course.grading.stub
        )
    return stubs


def build_week(course: Course, week: Week, *, now: dt.datetime | None = None) -> list[BuiltFile]:
    """Write exercises/<week>/ from solutions/<week>/, backing up any file it changes."""
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    built = []
    for path, text in expected_stubs(course, week).items():
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old == text:
            built.append(BuiltFile(path, changed=False))
            continue
        backup = None
        if old is not None:
            backup = course.root / ".grade" / "backups" / stamp / path.relative_to(course.root)
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, backup)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        built.append(BuiltFile(path, changed=True, backup=backup))
    return built
