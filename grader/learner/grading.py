"""The library calls behind the ``grade`` command: grade a week, and overview the course.

Keyword-only entry points that own the defaults; ``cli.py`` parses arguments, calls one of
these and renders what comes back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..core.course import Course, find_course_root, load_course
from ..core.errors import UsageError
from ..core.manifest import load_held_back
from ..core.results import TestInfo, WeekResult
from ..engine.runner import GradeRequest, Listener, collect_tests, grade_week
from . import history


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
    submission, label = _submission(course, chosen.folder, path=path, solutions=solutions)
    if exercise is not None:
        exercise = exercise.removesuffix(".py")
        _check_exercise(submission / chosen.folder, exercise, label=f"{label}/{chosen.folder}")
    return GradeRequest(course=course, week=chosen, submission=submission, label=label, exercise=exercise)


def grade(request: GradeRequest, *, listener: Listener | None = None) -> WeekResult:
    """Grade the request; a full grade of the learner's own exercises/ is stored as the week's last score."""
    result = grade_week(request, listener=listener)
    held = load_held_back(request.course.root).get(request.week.id)
    if held is not None and held.tests:
        result = dataclasses.replace(result, held_back_tests=held.tests, held_back_points=held.points)
    if request.submission == request.course.exercises_dir and request.exercise is None:
        history.save_score(request.course.root, result)
        history.save_failures(request.course.root, result)
    return result


@dataclass(frozen=True)
class Overview:
    """What ``grade list`` shows: the course, what each week's suite is worth, the last scores."""

    course: Course
    suites: dict[str, tuple[TestInfo, ...]]
    scores: dict[str, history.StoredScore]


def overview(*, course: Course) -> Overview:
    """Every week's tests (cached in .grade/ until a suite changes) and the learner's last scores."""
    fingerprint = history.suite_fingerprint(course.tests_dir)
    suites = history.load_suites(course.root, fingerprint)
    if suites is None or set(suites) != {w.id for w in course.weeks}:
        suites = collect_tests(course, course.weeks) if course.weeks else {}
        history.save_suites(course.root, fingerprint, suites)
    return Overview(course=course, suites=suites, scores=history.load_scores(course.root))


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
