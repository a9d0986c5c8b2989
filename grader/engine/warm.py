"""The warm worker of ``grade batch``, ``grade check`` and ``grade watch``: one grading child that keeps torch, one week's suite and the
reference loaded, and grades submission after submission sent to it as jobs."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import IO

from ..core.course import Course, Week
from ..core.errors import GradingError, SuiteError
from ..core.results import TestInfo, WeekResult
from .events import Child, Follow
from .protocol import Job
from .runner import GradeRequest, Listener, Run, SilentListener, start_child


class WarmWorker:
    """A grading child that keeps torch, one week's suite and the reference loaded, and grades
    submission after submission (``grade batch``, ``grade check``), or one exercise of a
    submission after another (``grade watch``: a request that names an exercise).

    Each job is followed with the same events and rules as a cold run.  Should the child die or
    stop answering in the middle of a submission, the outcomes already recorded stand, the rest
    are graded by cold children exactly as in single grading (``_Run.execute``), and the worker
    starts afresh for the next job.  Student code never runs in the worker itself: the course
    must use the process sandbox (``batch`` checks this).
    """

    def __init__(self, course: Course, week: Week, *, hide: tuple[Path, ...]) -> None:
        self.course = course
        self.week = week
        self.hide = hide  # the batch's work folder and submissions: the sandbox must not see them
        self._scratch = Path(tempfile.mkdtemp(prefix="grade-worker-"))
        self._child: Child | None = None
        self._jobs: IO[str] | None = None
        self._tests: dict[str, TestInfo] = {}
        self._confinement = ""
        self._jobs_sent = 0
        self._killed = False

    def start(self, threads: int | None) -> None:
        """Start the grading child now (torch, the suite, the zygote) rather than on the first job."""
        if self._child is None:
            self._start(threads)

    def grade(self, request: GradeRequest, *, listener: Listener | None = None) -> WeekResult:
        started = time.perf_counter()
        run = Run(request, listener or SilentListener())
        if self._child is None or not self._send(request):
            self._discard()
            self._start(request.threads)
            if not self._send(request):
                raise GradingError(f"the grading worker exited at once:\n{self._output_tail()}")
        assert self._child is not None
        run.tests = {k: i for k, i in self._tests.items() if request.exercise in (None, i.exercise)}
        run.confinement = self._confinement
        finished = run.follow(self._child)
        if self._killed:
            raise GradingError("grading was stopped")
        if not finished or run.remaining():
            self._discard()
            run.restarts += 1
            run.execute()
        elif run.imports_cut:
            # A time-out was raised while the child imported modules, perhaps inside an import of
            # the suite's or torch's own (a lazy `import sympy`): a half-initialised module would
            # fail the same test for every later learner.  The next job gets a fresh child.  A
            # time-out while the child waited on the learner's sandbox (the usual one) needs none.
            self._discard()
        return run.result(time.perf_counter() - started)

    def close(self) -> None:
        """Let the worker finish (its jobs pipe closes), then remove its scratch folder."""
        if self._jobs is not None:
            self._jobs.close()
            self._jobs = None
        if self._child is not None:
            self._child.stop()
            self._child = None
        shutil.rmtree(self._scratch, ignore_errors=True)

    def kill(self) -> None:
        """Stop at once (Ctrl-C, from another thread): the worker and its sandboxes are killed."""
        self._killed = True
        self._discard()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _start(self, threads: int | None) -> None:
        read_fd, write_fd = os.pipe()
        options = [
            f"--grade-jobs-fd={read_fd}",
            f"--submission={self.hide[0]}",  # never graded: each job names its own; hidden from the sandbox
            *(f"--grade-hide={folder}" for folder in self.hide),
        ]
        try:
            child = start_child(
                self.course,
                [self.course.tests_dir / self.week.folder],
                options,
                self._scratch,
                extra_fds=(read_fd,),
                threads=threads,
            )
        finally:
            os.close(read_fd)
        self._child, self._jobs = child, os.fdopen(write_fd, "w", encoding="utf-8")
        follow = Follow(child)
        try:
            follow.until("collected", "done")
        except BaseException:  # a sandbox that cannot start here, Ctrl-C: the child must not outlive us
            self._discard()
            raise
        if follow.collected is not None:
            self._check_collected(follow.collected, follow.collect_errors)
            self._confinement = follow.confinement or ""
            self._tests = {i.id: i for i in follow.collected}
            return
        tail = self._output_tail()
        self._discard()
        raise GradingError(f"the grading worker for {self.week.id} did not start:\n{tail}")

    def _check_collected(self, infos: tuple[TestInfo, ...], errors: list[str]) -> None:
        problems = errors + [i.problem for i in infos if i.problem]
        if problems:
            self._discard()
            raise SuiteError(f"the hidden suite of {self.week.id} cannot be used:\n  " + "\n  ".join(problems))

    def _send(self, request: GradeRequest) -> bool:
        """Hand the worker one job; False if it is gone."""
        if self._jobs is None:
            return False
        self._jobs_sent += 1
        job: Job = {"id": self._jobs_sent, "submission": str(request.submission), "label": request.label}
        if request.exercise is not None:
            job["exercise"] = request.exercise
        try:
            self._jobs.write(json.dumps(job) + "\n")
            self._jobs.flush()
        except (BrokenPipeError, OSError):
            return False
        return True

    def _discard(self) -> None:
        if self._jobs is not None:
            try:
                self._jobs.close()
            except OSError:
                pass
            self._jobs = None
        if self._child is not None:
            self._child.kill()
            self._child.stop()
            self._child = None

    def _output_tail(self) -> str:
        return self._child.output_tail() if self._child is not None else ""
