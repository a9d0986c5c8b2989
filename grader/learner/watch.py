"""``grade watch``: re-grade a week's exercises each time the learner saves one.

The week's folder in exercises/ is watched with watchfiles (inotify, FSEvents; no polling loop of
ours).  A save re-grades only the exercises whose files changed, on one warm worker kept alive
between saves (torch and the suite imported once; each run still in fresh sandboxes), and the
new outcomes replace that exercise's old ones in the week's result.  Every new result is stored
as a run in ``.grade/`` (the history keeps the best), so Ctrl-C at any moment leaves the last
score saved.  Whatever a learner's file does (a syntax error, an endless loop, ``os._exit``) is an
outcome of the run, and a grading error is shown and waited out: nothing a save does stops the
watch.  Without a week, it follows the first week that is not complete, and moves on to the next
one when it is.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..core.course import Course, Week
from ..core.errors import GraderError, MissingExtraError, UsageError
from ..core.results import TestOutcome, WeekResult
from ..engine.runner import GradeRequest, grade_week
from ..engine.warm import WarmWorker
from . import history

WATCH_EXTRA: Final = 'pip install -e ".[watch]"'
STEP_MS: Final = 30  # a save is graded once no other change came for this long
DEBOUNCE_MS: Final = 400  # changes that keep coming are grouped for at most this long
WHOLE_WEEK: Final = "*"  # a change to a file that is not an exercise (a helper module): grade all


@dataclass(frozen=True)
class WatchUpdate:
    """What one save (or the first grade) gave: the week's result with the changed exercises
    re-graded, or the grading error that stopped this round (the watch goes on)."""

    week: Week
    result: WeekResult | None
    changed: tuple[str, ...]  # exercise names; () for the first grade of the week
    seconds: float  # from noticing the save to the new score
    error: str = ""
    stored: history.StoredScore | None = None
    moved_on_from: str = ""  # the week just completed, when following the course

    @property
    def next_to_fix(self) -> tuple[str, TestOutcome] | None:
        return next_to_fix(self.result) if self.result is not None else None


def next_to_fix(result: WeekResult) -> tuple[str, TestOutcome] | None:
    """The first failing test of the first unfinished exercise (required exercises first), with
    that exercise's file: what the learner should look at now."""
    ordered = sorted(result.exercises, key=lambda e: e.optional)
    for exercise in ordered:
        for outcome in exercise.outcomes:
            if not outcome.passed:
                return exercise.file, outcome
    return None


def first_incomplete_week(course: Course) -> Week:
    """The first week whose best run is not full marks (or that was never graded)."""
    runs = history.load_history(course.root)
    for week in course.weeks:
        found = runs.get(week.id)
        if found is None or not found.best.complete:
            return week
    raise UsageError("every week of the course has full marks; name one to watch, e.g. grade watch week5")


def changed_exercises(paths: Iterable[Path], week_dir: Path, exercises: Iterable[str]) -> set[str]:
    """The exercises to grade again for changed ``paths``: the module's own, or every exercise
    (``WHOLE_WEEK``) when a helper module of the week changed; other files are ignored."""
    names, changed = set(exercises), set()
    for path in paths:
        if path.suffix != ".py" or path.parent != week_dir:
            continue
        changed.add(path.stem if path.stem in names else WHOLE_WEEK)
    return changed


class WeekSession:
    """One week graded again and again: a warm worker (where the course uses the process
    sandbox), the week's latest result, and its runs stored in ``.grade/``."""

    def __init__(self, course: Course, week: Week, *, source: str = "watch") -> None:
        self.course, self.week, self.source = course, week, source
        self._scratch = tempfile.TemporaryDirectory(prefix="grade-watch-")
        warm = course.grading.sandbox == "process"  # never learner code inside a worker that lives on
        self._worker = WarmWorker(course, week, hide=(Path(self._scratch.name),)) if warm else None
        self.result: WeekResult | None = None

    @property
    def week_dir(self) -> Path:
        return self.course.exercises_dir / self.week.folder

    def grade(self, changed: set[str]) -> WatchUpdate:
        """Grade the changed exercises (everything the first time, or for ``WHOLE_WEEK``), merge
        them into the week's result and store it; a grading error becomes the update's error."""
        started = time.perf_counter()
        whole = self.result is None or WHOLE_WEEK in changed
        names = () if whole else tuple(sorted(changed))
        try:
            result = self._grade(None) if whole else self._merge([self._grade(name) for name in names])
        except GraderError as exc:
            return WatchUpdate(self.week, self.result, names, time.perf_counter() - started, error=exc.message)
        self.result = dataclasses.replace(result, duration_s=time.perf_counter() - started)
        stored = history.save_score(self.course.root, self.result, source=self.source)
        return WatchUpdate(self.week, self.result, names, time.perf_counter() - started, stored=stored)

    def close(self, *, kill: bool = False) -> None:
        if self._worker is not None:
            self._worker.kill() if kill else self._worker.close()
        self._scratch.cleanup()

    def _grade(self, exercise: str | None) -> WeekResult:
        request = GradeRequest(
            self.course, self.week, self.course.exercises_dir, self.course.exercises_dir.name, exercise=exercise
        )
        return self._worker.grade(request) if self._worker is not None else grade_week(request)

    def _merge(self, partials: list[WeekResult]) -> WeekResult:
        """The week's last result with each re-graded exercise's outcomes put in its place."""
        assert self.result is not None
        fresh = {e.name: e for partial in partials for e in partial.exercises}
        known = {e.name for e in self.result.exercises}
        exercises = tuple(fresh.get(e.name, e) for e in self.result.exercises)
        exercises += tuple(e for name, e in fresh.items() if name not in known)
        notes = tuple(note for partial in partials for note in partial.notes)
        return dataclasses.replace(self.result, exercises=exercises, notes=notes)


def watch(
    course: Course,
    week: Week | None,
    *,
    on_update: Callable[[WatchUpdate], None],
    on_grading: Callable[[Week, tuple[str, ...]], None] = lambda week, names: None,
    stop: threading.Event | None = None,
) -> WatchUpdate | None:
    """Grade the week, then again after every save, until Ctrl-C (KeyboardInterrupt propagates,
    after the worker is stopped) or ``stop`` is set; returns the last update.  ``week=None``
    follows the course: the first week that is not complete, then the next one."""
    try:
        from watchfiles import watch as watch_files
    except ImportError:
        raise MissingExtraError("watchfiles", for_what="grade watch", install=WATCH_EXTRA, tools="it") from None
    following = week is None
    session = WeekSession(course, week or first_incomplete_week(course))
    last: WatchUpdate | None = None
    interrupted = True
    try:
        on_grading(session.week, ())
        last = session.grade({WHOLE_WEEK})
        on_update(last)
        while not (stop is not None and stop.is_set()):
            if following and last.result is not None and last.result.all_passed:
                session, last = _move_on(course, session, on_update, on_grading)
                if last is None:
                    break
                continue
            for changes in watch_files(
                session.week_dir, step=STEP_MS, debounce=DEBOUNCE_MS, stop_event=stop, rust_timeout=500
            ):
                names = changed_exercises((Path(p) for _, p in changes), session.week_dir, _exercises(session))
                if not names:
                    continue
                noticed = time.perf_counter()
                on_grading(session.week, tuple(sorted(names)))
                last = dataclasses.replace(session.grade(names), seconds=time.perf_counter() - noticed)
                on_update(last)
                if following and last.result is not None and last.result.all_passed:
                    break
            else:
                break  # stop was set
        interrupted = False
    finally:
        session.close(kill=interrupted)
    return last


def _move_on(
    course: Course,
    session: WeekSession,
    on_update: Callable[[WatchUpdate], None],
    on_grading: Callable[[Week, tuple[str, ...]], None],
) -> tuple[WeekSession, WatchUpdate | None]:
    """The followed week is complete: watch the next week that is not (None when none is left)."""
    done = session.week.id
    session.close()
    try:
        week = first_incomplete_week(course)
    except UsageError:
        return session, None
    session = WeekSession(course, week)
    on_grading(week, ())
    update = dataclasses.replace(session.grade({WHOLE_WEEK}), moved_on_from=done)
    on_update(update)
    return session, update


def _exercises(session: WeekSession) -> list[str]:
    if session.result is None:
        return []
    return [e.name for e in session.result.exercises]
