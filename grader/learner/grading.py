"""The library calls behind the ``grade`` command: grade a week, and overview the course.

Keyword-only entry points that own the defaults; ``cli.py`` parses arguments, calls one of
these and renders what comes back.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..core.course import Course, Week, find_course_root, load_course
from ..core.errors import UsageError
from ..core.manifest import load_held_back
from ..core.results import TestInfo, WeekResult
from ..engine.runner import GradeRequest, Listener, collect_tests, grade_week
from . import history
from .notebooks import is_notebook_path, scratch_folder, stage_cells, stage_notebooks


def open_course(course_root: Path | None = None) -> Course:
    """The course at ``course_root``, or the one around the current folder."""
    return load_course(course_root.resolve() if course_root else find_course_root(Path.cwd()))


def plan(
    *,
    course: Course,
    week: str,
    path: Path | None = None,
    solutions: bool = False,
    exercise: str | None = None,
) -> GradeRequest:
    """Check what is to be graded, before anything runs: exercises/ by default, the reference
    with ``solutions``, or any folder laid out like exercises/ with ``path``."""
    chosen = course.resolve(week)
    if path is not None and is_notebook_path(path.expanduser(), chosen):
        submission, label = _staged_notebooks(course, chosen, path)
    else:
        submission, label = _submission(course, chosen.folder, path=path, solutions=solutions)
    if exercise is not None:
        exercise = exercise.removesuffix(".py")
        try:
            _check_exercise(submission / chosen.folder, exercise, label=f"{label}/{chosen.folder}")
        except UsageError:
            staged = _STAGED.pop(submission, None)
            if staged is not None:
                shutil.rmtree(staged[0], ignore_errors=True)
            raise
    return GradeRequest(course=course, week=chosen, submission=submission, label=label, exercise=exercise)


def grade(request: GradeRequest, *, listener: Listener | None = None) -> WeekResult:
    """Grade the request; a full grade of the learner's own exercises/ is stored as a run of the week."""
    staged = _STAGED.pop(request.submission, None)
    try:
        result = grade_week(request, listener=listener)
    finally:
        if staged is not None:
            shutil.rmtree(staged[0], ignore_errors=True)
    if staged is not None and staged[1]:
        result = dataclasses.replace(result, notes=(*staged[1], *result.notes))
    held = load_held_back(request.course.root).get(request.week.id)
    if held is not None and held.tests:
        result = dataclasses.replace(result, held_back_tests=held.tests, held_back_points=held.points)
    if request.submission == request.course.exercises_dir and request.exercise is None:
        history.save_score(request.course.root, result)
        history.save_failures(request.course.root, result)
    return result


def grade_cells(
    *, course: Course, week: str, cells: list[str], exercise: str | None = None, label: str = "notebook"
) -> WeekResult:
    """Grade the definitions of a notebook's executed cells (``%grade``: the kernel's ``In``) as
    the week's modules, in the sandbox like any submission; nothing is stored as a run."""
    chosen = course.resolve(week)
    scratch = scratch_folder()
    try:
        root = stage_cells(course, chosen, cells, scratch, name=label)
        if exercise is not None:
            exercise = exercise.removesuffix(".py")
            _check_exercise(root / chosen.folder, exercise, label=f"{label}/{chosen.folder}")
        return grade_week(GradeRequest(course=course, week=chosen, submission=root, label=label, exercise=exercise))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class Overview:
    """What ``grade list`` shows: the course, what each week's suite is worth, the learner's runs."""

    course: Course
    suites: dict[str, tuple[TestInfo, ...]]
    history: dict[str, history.WeekHistory]


def overview(*, course: Course) -> Overview:
    """Every week's tests (cached in .grade/ until a suite changes) and the learner's runs."""
    fingerprint = history.suite_fingerprint(course.tests_dir)
    suites = history.load_suites(course.root, fingerprint)
    if suites is None or set(suites) != {w.id for w in course.weeks}:
        suites = collect_tests(course, course.weeks) if course.weeks else {}
        history.save_suites(course.root, fingerprint, suites)
    return Overview(course=course, suites=suites, history=history.load_history(course.root))


def week_history(*, course: Course, week: str) -> tuple[Week, history.WeekHistory | None]:
    """The week and every stored run of it (None if it was never graded in full)."""
    chosen = course.resolve(week)
    return chosen, history.load_history(course.root).get(chosen.id)


# Notebooks staged as modules by ``plan``, removed by ``grade``: submission -> (folder, notes).
_STAGED: dict[Path, tuple[Path, tuple[str, ...]]] = {}


def _staged_notebooks(course: Course, week: Week, path: Path) -> tuple[Path, str]:
    """The notebook(s) at ``path`` written as the week's modules in a private folder, and the label
    messages use (the notebook's path)."""
    scratch = scratch_folder()
    try:
        root, notes = stage_notebooks(course, week, path.expanduser().resolve(), scratch)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    _STAGED[root] = (scratch, tuple(notes))
    return root, str(path)


def _submission(course: Course, folder: str, *, path: Path | None, solutions: bool) -> tuple[Path, str]:
    if path is not None and solutions:
        raise UsageError("--path and --solutions both say what to grade; give one of them")
    if solutions:
        if not (course.solutions_dir / folder).is_dir():
            raise UsageError(
                f"{course.solutions_dir / folder} does not exist; this copy of the course has no reference solutions"
            )
        return course.solutions_dir, course.solutions_dir.name
    if path is None:
        return course.exercises_dir, course.exercises_dir.name
    resolved = path.expanduser().resolve()
    if not resolved.is_dir():
        raise UsageError(f"--path {path}: no such folder")
    if not (resolved / folder).is_dir():
        raise UsageError(f"--path {path} has no {folder}/ folder; --path takes a folder laid out like exercises/")
    return resolved, str(path).rstrip("/") or str(path)


def _check_exercise(folder: Path, exercise: str, *, label: str) -> None:
    if not (folder / f"{exercise}.py").is_file():
        available = ", ".join(sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))) or "none"
        raise UsageError(f"--exercise {exercise}: there is no {label}/{exercise}.py; the exercises are: {available}")
