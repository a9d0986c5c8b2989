"""Grading a whole class: ``grade batch WEEK SUBMISSIONS``.

The submissions are read into a temporary work folder (``intake.py``), those already in the
gradebook with the same content and the same suite are skipped (so a killed batch resumes where
it stopped), and the rest are graded in parallel by warm workers (``runner.WarmWorker``: torch,
the suite and the reference loaded once per worker; each submission still in its own fresh
sandboxes).  The main thread alone writes the gradebook, one transaction per submission, the
moment its result arrives.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from ..core.course import Course, Week, late_of
from ..core.errors import UsageError
from ..core.late import LateAssessment
from ..core.results import WeekResult
from ..engine.runner import GradeRequest, grade_week, threads_per_child
from ..engine.warm import WarmWorker
from .fingerprint import suite_hash
from .gradebook import DEFAULT_NAME, Entry, Gradebook
from .intake import Discovery, Intake, discover


@dataclass(frozen=True)
class BatchRequest:
    course: Course
    week: Week
    submissions: Path
    gradebook: Path
    workers: int
    regrade: bool = False
    nbgrader_exchange: bool = False  # SUBMISSIONS holds nbgrader's submitted/<learner>/<assignment>/
    scheduler: str | None = None  # a Dask scheduler (tcp://HOST:8786) or local:N: grade on a cluster (cluster.py)


@dataclass(frozen=True)
class BatchSummary:
    """What a batch did, and the class's current grades for the week afterwards."""

    course: Course
    week: Week
    gradebook: Path
    graded: int  # graded in this run
    unchanged: int  # skipped: the same files were already graded against the same suite
    rejected: int  # recorded with the reason they cannot be graded
    ignored: tuple[str, ...]  # entries of the submissions folder that are not submissions
    entries: tuple[Entry, ...]
    duration_s: float
    workers: int
    engine: str = ""  # where it was graded when not on this machine: "dask tcp://host:8786"
    not_graded: int = 0  # infrastructure errors (a cluster's lost workers), stored with their reason

    def assessment(self, entry: Entry) -> LateAssessment:
        return late_of(self.course, self.week, entry)


class BatchListener(Protocol):
    def planned(self, to_grade: int, unchanged: int) -> None: ...

    def recorded(self, entry: Entry) -> None: ...


def default_gradebook(course: Course) -> Path:
    return course.root / DEFAULT_NAME


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def grade_batch(request: BatchRequest, *, listener: BatchListener) -> BatchSummary:
    """Grade every submission of the folder that the gradebook does not already hold."""
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.timezone.utc)  # no time stamp may name a later moment
    suite = suite_hash(request.course, request.week)
    with (
        tempfile.TemporaryDirectory(prefix="grade-batch-") as scratch,
        Gradebook.open(request.gradebook, create=True) as book,
    ):
        work = Path(scratch)
        found = discover(
            request.submissions,
            course=request.course,
            week=request.week,
            work=work / "submissions",
            nbgrader_exchange=request.nbgrader_exchange,
            started_at=started_at,
        )
        todo, unchanged = _plan(found, book, request, suite)
        listener.planned(len(todo), unchanged)
        rejected = 0
        for intake in todo:
            if not intake.gradable:
                entry = _entry(request.week, intake, suite, None)
                book.record(entry)
                listener.recorded(entry)
                rejected += 1
        gradable = [i for i in todo if i.gradable]
        infrastructure = 0  # submissions the cluster could not grade (cluster.InfrastructureFailure)
        with _engine(
            request,
            gradable,
            suite=suite,
            hide=(work, request.submissions.resolve(), *_gradebook_files(request.gradebook)),
        ) as (engine, workers, results):
            for intake, result in results:
                entry = _entry(request.week, intake, suite, result)
                book.record(entry)
                listener.recorded(entry)
                infrastructure += isinstance(result, str)
        entries = tuple(book.current(request.week.id))
    return BatchSummary(
        course=request.course,
        week=request.week,
        gradebook=request.gradebook,
        graded=len(gradable) - infrastructure,
        unchanged=unchanged,
        rejected=rejected,
        ignored=found.ignored,
        entries=entries,
        duration_s=time.perf_counter() - started,
        workers=workers,
        engine=engine,
        not_graded=infrastructure,
    )


@contextmanager
def _engine(
    request: BatchRequest, intakes: list[Intake], *, suite: str, hide: tuple[Path, ...]
) -> Iterator[tuple[str, int, Iterable[tuple[Intake, WeekResult | str]]]]:
    """Where the submissions are graded: this machine's warm workers, or a Dask cluster
    (``--scheduler``), whose infrastructure failures come back as their reason (a string)."""
    if not request.scheduler:
        yield "", min(request.workers, len(intakes)), _grade_all(request, intakes, hide=hide)
        return
    from .cluster import connect, dask_worker_count, grade_on_cluster, local_threads, task_resources

    if request.course.grading.sandbox != "process":
        raise UsageError('grade batch --scheduler needs the process sandbox ([grading] sandbox = "process")')
    with connect(request.scheduler, workers=request.workers) as client:
        results = grade_on_cluster(
            client,
            course=request.course,
            week=request.week,
            intakes=intakes,
            fingerprint=suite,
            threads=local_threads(request.scheduler, request.workers),
            resources=task_resources(request.scheduler, request.week),
        )
        plain = ((i, r if isinstance(r, WeekResult) else r.reason) for i, r in results)
        yield f"dask {request.scheduler}", dask_worker_count(client), plain


def _plan(found: Discovery, book: Gradebook, request: BatchRequest, suite: str) -> tuple[list[Intake], int]:
    """What to grade now; a submission graded (or rejected for the same reason) before is skipped."""
    todo, unchanged = [], 0
    for intake in found.intakes:
        last = book.latest(request.week.id, intake.learner)
        same = (
            last is not None
            and last.content_hash == intake.content_hash
            and last.suite_hash == suite
            and (last.status == "graded" if intake.gradable else last.reason == intake.problem)
        )
        if same and not request.regrade:
            unchanged += 1
        else:
            todo.append(intake)
    return todo, unchanged


def _entry(week: Week, intake: Intake, suite: str, result: WeekResult | str | None) -> Entry:
    """A graded submission, or one that cannot be graded: the intake's problem (``None``), or an
    infrastructure failure's reason (a string: the next batch grades it again)."""
    if isinstance(result, str):
        intake = replace(intake, problem=result)
        result = None
    notes = [*intake.notes, *(result.notes if result else ())]
    return Entry(
        week_id=week.id,
        learner=intake.learner,
        source=intake.source,
        content_hash=intake.content_hash,
        suite_hash=suite,
        submitted_at=intake.submitted_at,
        graded_at=dt.datetime.now().astimezone(),
        status="graded" if result is not None else "rejected",
        reason=intake.problem if result is None else "; ".join(notes),
        result=result,
    )


# -- the worker pool ------------------------------------------------------------------------------


def _grade_all(
    request: BatchRequest, intakes: list[Intake], *, hide: tuple[Path, ...]
) -> Iterable[tuple[Intake, WeekResult]]:
    """Results as they finish, from ``request.workers`` threads each driving one worker.

    A grader error in any thread (a broken suite, a worker that cannot start) stops the batch:
    it would fail every submission the same way.  Whatever was yielded before is stored.
    """
    if not intakes:
        return
    jobs: queue.Queue[Intake | None] = queue.Queue()
    for intake in intakes:
        jobs.put(intake)
    count = min(request.workers, len(intakes))
    for _ in range(count):
        jobs.put(None)
    done: queue.Queue[tuple[Intake, WeekResult] | BaseException] = queue.Queue()
    workers = [_new_worker(request, hide) for _ in range(count)]
    threads = [threading.Thread(target=_work, args=(request, w, jobs, done), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    try:
        for _ in intakes:
            item = done.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    except BaseException:
        for worker in workers:
            worker.kill()
        raise
    for thread in threads:
        thread.join()


class _Worker(Protocol):
    def grade(self, request: GradeRequest) -> WeekResult: ...

    def close(self) -> None: ...

    def kill(self) -> None: ...


class _ColdWorker:
    """Without the process sandbox, learner code would run inside a warm worker and could leave
    something behind for the next learner: each submission then gets its own cold child."""

    def grade(self, request: GradeRequest) -> WeekResult:
        return grade_week(request)

    def close(self) -> None:
        pass

    def kill(self) -> None:
        """Nothing to kill from here: the running cold child ends within its suite's time limits."""


def _gradebook_files(gradebook: Path) -> tuple[Path, ...]:
    """The gradebook and SQLite's files beside it (open in WAL mode while the batch grades): no
    sandbox may read them (each covers them, see namespaces.py)."""
    book = gradebook.resolve()
    files = (book.with_name(book.name + suffix) for suffix in ("", "-wal", "-shm", "-journal"))
    return tuple(path for path in files if path.is_file())


def _new_worker(request: BatchRequest, hide: tuple[Path, ...]) -> _Worker:
    if request.course.grading.sandbox == "process":
        return WarmWorker(request.course, request.week, hide=hide)
    return _ColdWorker()


def _work(
    request: BatchRequest,
    worker: _Worker,
    jobs: queue.Queue[Intake | None],
    done: queue.Queue[tuple[Intake, WeekResult] | BaseException],
) -> None:
    try:
        while (intake := jobs.get()) is not None:
            assert intake.root is not None
            job = GradeRequest(
                course=request.course,
                week=request.week,
                submission=intake.root,
                label=intake.learner,
                threads=threads_per_child(request.workers),
            )
            done.put((intake, worker.grade(job)))
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which stops the batch
        done.put(exc)
    finally:
        worker.close()
