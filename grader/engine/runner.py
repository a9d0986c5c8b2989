"""Running one week's suite for one submission in a child process, with time and memory limits.

The ``grade`` process never imports torch or student code.  It starts a child (``python -m
grader.engine.child``, which is pytest with the plugin) and follows its JSON event stream.  The
parent alone decides how each test ended:

* a ``result`` event is the only way a test passes;
* a test that runs past its limit (+ grace) gets the child killed: ``timeout``;
* a child that dies during a test (segfault, ``os._exit``, killed for memory): ``crashed``;
* either way the child is restarted with the finished tests skipped, so the rest of the week
  is still graded.  A crash while importing a learner file fails that exercise's remaining
  tests at once instead of crashing once per test.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from ..core.course import Course, Week
from ..core.errors import GradingError, SuiteError
from ..core.results import ExerciseResult, TestInfo, TestOutcome, WeekResult
from .events import IDLE_LIMIT_S, Child, Follow
from .sandbox.backend import crash_message
from .sandbox.confinement import grading_environment

_FRAME_LINE: Final = re.compile(r'File "([^"]+)", line (\d+)')


class Listener(Protocol):
    """Hears about progress, e.g. to draw a live progress bar."""

    def collected(self, tests: tuple[TestInfo, ...]) -> None: ...

    def started(self, test: TestInfo) -> None: ...

    def finished(self, outcome: TestOutcome) -> None: ...


class SilentListener:
    def collected(self, tests: tuple[TestInfo, ...]) -> None:
        pass

    def started(self, test: TestInfo) -> None:
        pass

    def finished(self, outcome: TestOutcome) -> None:
        pass


@dataclass(frozen=True)
class GradeRequest:
    """Everything one grading run needs; built by the CLI, consumed by ``grade_week``."""

    course: Course
    week: Week
    submission: Path
    label: str  # how the submission folder is shown: "exercises", "solutions", a path
    exercise: str | None = None
    threads: int | None = None  # torch/BLAS threads of the grading child; None: the libraries' default


def threads_per_child(parallel: int) -> int:
    """The CPU threads each of ``parallel`` concurrent grading children may use.

    torch sizes its thread pool to the whole machine; two workers on two cores would then run four
    busy threads, and OpenMP threads that spin while they wait for work slowed a two-worker batch
    by half (60.7 s against 40.5 s for the same 100 submissions).  One share of the cores each.
    """
    return max(1, (os.cpu_count() or 1) // max(1, parallel))


def grade_week(request: GradeRequest, *, listener: Listener | None = None) -> WeekResult:
    """Grade one submission against one week's hidden suite."""
    run = Run(request, listener or SilentListener())
    started = time.perf_counter()
    run.execute()
    return run.result(time.perf_counter() - started)


def collect_tests(course: Course, weeks: tuple[Week, ...]) -> dict[str, tuple[TestInfo, ...]]:
    """The tests of several weeks' suites (collected, not run), by week id, in one child."""
    paths = [course.tests_dir / w.folder for w in weeks]
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch:
        child = start_child(course, paths, ["--collect-only"], Path(scratch))
        follow = Follow(child)
        try:
            follow.until("done")
        finally:
            child.stop()
    infos, errors = follow.collected or (), follow.collect_errors
    if errors:
        raise SuiteError("some hidden suites cannot be collected:\n" + "\n".join(errors))
    by_folder: dict[str, list[TestInfo]] = {w.folder: [] for w in weeks}
    for info in infos:
        folder = Path(info.id.split("::")[0]).parent.name
        by_folder.setdefault(folder, []).append(info)
    return {w.id: tuple(by_folder[w.folder]) for w in weeks}


@dataclass
class Run:
    """One submission's grading by cold children: a child is started again after a crash or a
    time-out, with the finished tests skipped, until every test has an outcome."""

    request: GradeRequest
    listener: Listener
    tests: dict[str, TestInfo] = field(default_factory=dict)
    outcomes: dict[str, TestOutcome] = field(default_factory=dict)
    collect_errors: list[str] = field(default_factory=list)
    imports_cut: bool = False  # a time-out may have left a half-imported module in the child
    restarts: int = 0
    confinement: str = "none: the learner's code ran in the grading process"

    def execute(self) -> None:
        with tempfile.TemporaryDirectory(prefix="grade-") as scratch:
            while True:
                child = self._start_child(Path(scratch))
                try:
                    finished = self.follow(child)
                except BaseException:  # Ctrl-C or a suite error: the child must not outlive us
                    child.kill()
                    raise
                finally:
                    child.stop()
                if self.collect_errors:
                    raise SuiteError(self._collect_error_message())
                if finished or not self.remaining():
                    return
                if not self.tests:
                    raise GradingError(f"the grading process ended before collecting any test:\n{child.output_tail()}")
                self.restarts += 1
                if self.restarts > len(self.tests) + 2:
                    raise GradingError(f"the grading process keeps failing outside any test:\n{child.output_tail()}")

    def _start_child(self, scratch: Path) -> Child:
        skip_file = scratch / "skip.json"
        skip_file.write_text(json.dumps(sorted(self.outcomes)))
        request = self.request
        options = [
            f"--grade-skip={skip_file}",
            f"--submission={request.submission}",
            f"--submission-label={request.label}",
        ]
        if request.exercise:
            options.append(f"--grade-exercise={request.exercise}")
        return start_child(
            request.course, [request.course.tests_dir / request.week.folder], options, scratch, threads=request.threads
        )

    def remaining(self) -> list[str]:
        return [t for t in self.tests if t not in self.outcomes]

    def follow(self, child: Child) -> bool:
        """Read events until the child finishes (True) or dies or is killed (False)."""
        follow = Follow(
            child,
            dict(self.tests),
            on_collected=self._collected,
            on_started=self.listener.started,
            on_outcome=self._record,
        )
        try:
            ending = follow.until("done", "job_done")
        finally:
            self.collect_errors += follow.collect_errors
            self.imports_cut = self.imports_cut or follow.imports_cut
            self.confinement = follow.confinement or self.confinement
        if ending == "timed_out":
            self._timed_out(child, follow)
        elif ending == "ended":
            self._died(child, follow)
        return ending == "stopped"

    def _collected(self, infos: tuple[TestInfo, ...]) -> None:
        if self.tests:  # a restart collects again; the first collection is the one that counts
            return
        problems = [i.problem for i in infos if i.problem]
        if problems:
            raise SuiteError(
                f"the hidden suite of {self.request.week.id} breaks the test contract:\n  " + "\n  ".join(problems)
            )
        self.tests = {i.id: i for i in infos}
        self.listener.collected(infos)

    def _timed_out(self, child: Child, state: Follow) -> None:
        child.kill()
        if state.current is None:
            raise GradingError(
                f"the grading process stopped responding for {IDLE_LIMIT_S:g} s outside any test:\n{child.output_tail()}"
            )
        message = f"timed out after {state.current.timeout_s:g} s"
        self._record(TestOutcome(state.current, "timeout", message, duration_s=time.monotonic() - state.started))
        self._fail_import(state, f"importing it {message}; does the file run code at import time?")

    def _died(self, child: Child, state: Follow) -> None:
        code = child.wait()
        if state.current is None:
            return
        frames = self._learner_frames(child.output_tail())
        message = crash_message(code, what="the process") + (f" at {frames[0]}" if frames else "")
        detail = "\n".join(f"in {frame}" for frame in frames)
        self._record(TestOutcome(state.current, "crashed", message, detail, time.monotonic() - state.started))
        self._fail_import(state, f"{message} while importing it")

    def _learner_frames(self, output: str) -> list[str]:
        """``exercises/week1/x.py:8`` for each learner frame of the fault handler's last dump, innermost first."""
        start = output.rfind("Fatal Python error")
        root = str(self.request.submission.resolve())
        frames = []
        for match in _FRAME_LINE.finditer(output[max(start, 0) :]):
            path, line = match.group(1), match.group(2)
            if path.startswith(root + os.sep):
                frames.append(f"{self.request.label}{path[len(root) :]}:{line}")
        return frames

    def _fail_import(self, state: Follow, reason: str) -> None:
        """A learner file that hangs or crashes on import fails all its remaining tests at once."""
        if state.importing is None:
            return
        shown = f"{self.request.label}/{self.request.week.folder}/{state.importing}.py"
        for test in self.remaining():
            info = self.tests[test]
            if info.exercise == state.importing:
                self._record(TestOutcome(info, "import_error", f"{shown}: {reason}"))

    def _record(self, outcome: TestOutcome) -> None:
        self.outcomes[outcome.info.id] = outcome
        self.listener.finished(outcome)

    def _collect_error_message(self) -> str:
        return f"the hidden suite of {self.request.week.id} cannot be collected:\n" + "\n".join(self.collect_errors)

    def result(self, duration: float) -> WeekResult:
        by_exercise: dict[str, list[TestOutcome]] = {}
        for test, info in self.tests.items():
            outcome = self.outcomes.get(test) or TestOutcome(info, "error", "the test did not run")
            by_exercise.setdefault(info.exercise, []).append(outcome)
        folder = f"{self.request.label}/{self.request.week.folder}"
        notes = (
            (f"the grading process was restarted {self.restarts} time(s) after a crash or time-out",)
            if self.restarts
            else ()
        )
        return WeekResult(
            course=self.request.course.title,
            week_id=self.request.week.id,
            week_title=self.request.week.title,
            week_folder=self.request.week.folder,
            submission=self.request.label,
            exercises=tuple(
                ExerciseResult(
                    name, f"{folder}/{name}.py", tuple(outcomes), optional=name in self.request.week.optional
                )
                for name, outcomes in by_exercise.items()
            ),
            duration_s=duration,
            notes=notes,
            confinement=self.confinement,
        )


def start_child(
    course: Course,
    paths: list[Path],
    options: list[str],
    scratch: Path,
    *,
    extra_fds: tuple[int, ...] = (),
    threads: int | None = None,
) -> Child:
    """Start ``pytest PATHS OPTIONS`` with the plugin in grade mode, under the course's limits."""

    def command(events_fd: int, bell_fd: int) -> list[str]:
        return [
            sys.executable, "-m", "grader.engine.child", f"--memory-mb={course.grading.memory_mb}", "--",
            *map(str, paths), f"--rootdir={course.root}", "-p", "grader.engine.plugin", "-p", "no:cacheprovider",
            "-p", "no:logging", "--import-mode=importlib", "--strict-markers", "-q", "-s", "--grade-mode",
            f"--grade-events-fd={events_fd}", f"--grade-bell-fd={bell_fd}", f"--reference={course.solutions_dir}",
            f"--grade-timeout={course.grading.timeout_s}", f"--grade-sandbox={course.grading.sandbox}",
            f"--grade-memory-mb={course.grading.memory_mb}", *options,
        ]  # fmt: skip

    env = {**grading_environment(dict(os.environ)), "PYTHONFAULTHANDLER": "1"}
    if threads is not None:  # read by torch (intra-op pool), OpenMP and the BLAS libraries at start
        env.update(dict.fromkeys(("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), str(threads)))
    return Child.launch(command, cwd=course.root, env=env, scratch=scratch, extra_fds=extra_fds)
