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

import collections
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, Protocol

from ..core.course import Course, Week
from ..core.errors import GradingError, SuiteError
from ..core.results import STATUSES, ExerciseResult, Status, TestInfo, TestOutcome, WeekResult
from .sandbox.backend import crash_message
from .sandbox.confinement import grading_environment

GRACE_S: Final = 3.0  # the child's own alarm fires at the limit; the kill comes this much later
POLL_S: Final = 0.02  # how often a grading child's event stream is read while it runs (see _Child.events)
IDLE_LIMIT_S: Final = 300.0  # no event for this long outside a test (collection, start-up): give up
OUTPUT_TAIL: Final = 32000
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
    run = _Run(request, listener or SilentListener())
    started = time.perf_counter()
    run.execute()
    return run.result(time.perf_counter() - started)


def collect_tests(course: Course, weeks: tuple[Week, ...]) -> dict[str, tuple[TestInfo, ...]]:
    """The tests of several weeks' suites (collected, not run), by week id, in one child."""
    paths = [course.tests_dir / w.folder for w in weeks]
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch:
        child = _Child.start(course, paths, ["--collect-only"], Path(scratch))
        give_up = time.monotonic() + IDLE_LIMIT_S
        infos: list[TestInfo] = []
        errors: list[str] = []
        try:
            for event in child.events(deadline=lambda: give_up):
                if event is None or event.get("event") == "done":
                    break
                if event.get("event") == "collected":
                    infos = [TestInfo.from_dict(t) for t in event["tests"]]
                elif event.get("event") == "collect_error":
                    errors.append(f"{event['id']}: {event['message']}")
        finally:
            child.stop()
    if errors:
        raise SuiteError("some hidden suites cannot be collected:\n" + "\n".join(errors))
    by_folder: dict[str, list[TestInfo]] = {w.folder: [] for w in weeks}
    for info in infos:
        folder = Path(info.id.split("::")[0]).parent.name
        by_folder.setdefault(folder, []).append(info)
    return {w.id: tuple(by_folder[w.folder]) for w in weeks}


class WarmWorker:
    """A grading child that keeps torch, one week's suite and the reference loaded, and grades
    submission after submission (``grade batch``).

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
        self._child: _Child | None = None
        self._jobs: IO[str] | None = None
        self._tests: dict[str, TestInfo] = {}
        self._confinement = ""
        self._jobs_sent = 0
        self._killed = False

    def grade(self, request: GradeRequest) -> WeekResult:
        started = time.perf_counter()
        run = _Run(request, SilentListener())
        if self._child is None or not self._send(request):
            self._discard()
            self._start(request.threads)
            if not self._send(request):
                raise GradingError(f"the grading worker exited at once:\n{self._output_tail()}")
        assert self._child is not None
        run.tests, run.confinement = dict(self._tests), self._confinement
        finished = run._follow(self._child)
        if self._killed:
            raise GradingError("grading was stopped")
        if not finished or run._remaining():
            self._discard()
            run.restarts += 1
            run.execute()
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
            child = _Child.start(
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
        give_up = time.monotonic() + IDLE_LIMIT_S
        errors: list[str] = []
        for event in child.events(deadline=lambda: give_up):
            kind = event.get("event") if event else None
            if kind == "confinement":
                self._confinement = str(event["text"])  # type: ignore[index]
            elif kind == "collect_error":
                errors.append(f"{event['id']}: {event['message']}")  # type: ignore[index]
            elif kind == "collected":
                infos = [TestInfo.from_dict(t) for t in event["tests"]]  # type: ignore[index]
                self._check_collected(infos, errors)
                self._tests = {i.id: i for i in infos}
                return
            elif event is None or kind == "done":
                break
        tail = self._output_tail()
        self._discard()
        raise GradingError(f"the grading worker for {self.week.id} did not start:\n{tail}")

    def _check_collected(self, infos: list[TestInfo], errors: list[str]) -> None:
        problems = errors + [i.problem for i in infos if i.problem]
        if problems:
            self._discard()
            raise SuiteError(f"the hidden suite of {self.week.id} cannot be used:\n  " + "\n  ".join(problems))

    def _send(self, request: GradeRequest) -> bool:
        """Hand the worker one job; False if it is gone."""
        if self._jobs is None:
            return False
        self._jobs_sent += 1
        job = {"id": self._jobs_sent, "submission": str(request.submission), "label": request.label}
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


@dataclass
class _Run:
    request: GradeRequest
    listener: Listener
    tests: dict[str, TestInfo] = field(default_factory=dict)
    outcomes: dict[str, TestOutcome] = field(default_factory=dict)
    collect_errors: list[str] = field(default_factory=list)
    restarts: int = 0
    confinement: str = "none: the learner's code ran in the grading process"

    def execute(self) -> None:
        with tempfile.TemporaryDirectory(prefix="grade-") as scratch:
            while True:
                child = self._start_child(Path(scratch))
                try:
                    finished = self._follow(child)
                except BaseException:  # Ctrl-C or a suite error: the child must not outlive us
                    child.kill()
                    raise
                finally:
                    child.stop()
                if self.collect_errors:
                    raise SuiteError(self._collect_error_message())
                if finished or not self._remaining():
                    return
                if not self.tests:
                    raise GradingError(f"the grading process ended before collecting any test:\n{child.output_tail()}")
                self.restarts += 1
                if self.restarts > len(self.tests) + 2:
                    raise GradingError(f"the grading process keeps failing outside any test:\n{child.output_tail()}")

    def _start_child(self, scratch: Path) -> _Child:
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
        return _Child.start(
            request.course, [request.course.tests_dir / request.week.folder], options, scratch, threads=request.threads
        )

    def _remaining(self) -> list[str]:
        return [t for t in self.tests if t not in self.outcomes]

    def _follow(self, child: _Child) -> bool:
        """Read events until the child finishes (True) or dies or is killed (False)."""
        state = _FollowState()
        for event in child.events(deadline=state.deadline):
            if event is None:  # the deadline passed
                self._timed_out(child, state)
                return False
            if not self._handle(event, state):
                return True
        self._died(child, state)
        return False

    def _handle(self, event: dict[str, Any], state: _FollowState) -> bool:
        """Apply one event; False once the child says it is done."""
        kind = event.get("event")
        state.last_event = time.monotonic()
        if kind == "collected":
            self._collected([TestInfo.from_dict(t) for t in event["tests"]])
        elif kind == "collect_error":
            self.collect_errors.append(f"{event['id']}: {event['message']}")
        elif kind == "start" and event["id"] in self.tests:
            state.current = self.tests[event["id"]]
            state.started = time.monotonic()
            self.listener.started(state.current)
        elif kind == "confinement":
            self.confinement = str(event["text"])
        elif kind == "importing":
            state.importing = event["exercise"]
        elif kind == "imported":
            state.importing = None
        elif kind == "result" and event["id"] in self.tests:
            status: Status = event["status"] if event["status"] in STATUSES else "error"
            self._record(
                TestOutcome(self.tests[event["id"]], status, event["message"], event["detail"], event["duration"])
            )
            state.current = None
        elif kind in ("done", "job_done"):
            return False
        return True

    def _collected(self, infos: list[TestInfo]) -> None:
        if self.tests:  # a restart collects again; the first collection is the one that counts
            return
        problems = [i.problem for i in infos if i.problem]
        if problems:
            raise SuiteError(
                f"the hidden suite of {self.request.week.id} breaks the test contract:\n  " + "\n  ".join(problems)
            )
        self.tests = {i.id: i for i in infos}
        self.listener.collected(tuple(infos))

    def _timed_out(self, child: _Child, state: _FollowState) -> None:
        child.kill()
        if state.current is None:
            raise GradingError(
                f"the grading process stopped responding for {IDLE_LIMIT_S:g} s outside any test:\n{child.output_tail()}"
            )
        message = f"timed out after {state.current.timeout_s:g} s"
        self._record(TestOutcome(state.current, "timeout", message, duration_s=time.monotonic() - state.started))
        self._fail_import(state, f"importing it {message}; does the file run code at import time?")

    def _died(self, child: _Child, state: _FollowState) -> None:
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

    def _fail_import(self, state: _FollowState, reason: str) -> None:
        """A learner file that hangs or crashes on import fails all its remaining tests at once."""
        if state.importing is None:
            return
        shown = f"{self.request.label}/{self.request.week.folder}/{state.importing}.py"
        for test in self._remaining():
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
                ExerciseResult(name, f"{folder}/{name}.py", tuple(outcomes)) for name, outcomes in by_exercise.items()
            ),
            duration_s=duration,
            notes=notes,
            confinement=self.confinement,
        )


@dataclass
class _FollowState:
    current: TestInfo | None = None
    started: float = 0.0
    importing: str | None = None
    last_event: float = field(default_factory=time.monotonic)

    def deadline(self) -> float:
        if self.current is not None:
            return self.started + self.current.timeout_s + GRACE_S
        return self.last_event + IDLE_LIMIT_S


class _Child:
    """One grading child process and its event pipe."""

    def __init__(self, process: subprocess.Popen[bytes], events_fd: int, bell_fd: int, output: IO[bytes]) -> None:
        self.process = process
        self.events_fd = events_fd  # non-blocking: read in batches (see events())
        self.bell_fd = bell_fd
        self.output = output
        self._tail = ""
        self._pending = b""  # a partial event line
        self._lines: collections.deque[bytes] = collections.deque()  # read, not yet handed out
        self._ended = False  # the events pipe reached its end: the child closed it (it exited)
        self._bell_open = True

    @classmethod
    def start(
        cls,
        course: Course,
        paths: list[Path],
        options: list[str],
        scratch: Path,
        *,
        extra_fds: tuple[int, ...] = (),
        threads: int | None = None,
    ) -> _Child:
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
        return cls.launch(command, cwd=course.root, env=env, scratch=scratch, extra_fds=extra_fds)

    @classmethod
    def launch(
        cls,
        command: Callable[[int, int], list[str]],
        *,
        cwd: Path,
        env: dict[str, str],
        scratch: Path,
        extra_fds: tuple[int, ...] = (),
    ) -> _Child:
        """Start ``command(events_fd, bell_fd)``: a process that writes its events to the first
        descriptor and rings the second (see ``plugin.EventStream``)."""
        read_fd, write_fd = os.pipe()
        bell_read, bell_write = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(bell_write, False)  # a full bell has rung enough: the child must not wait on it
        output = tempfile.TemporaryFile(dir=scratch)
        try:
            process = subprocess.Popen(
                command(write_fd, bell_write), cwd=cwd, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, pass_fds=(write_fd, bell_write, *extra_fds), env=env, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            os.close(read_fd)
            os.close(bell_read)
            output.close()
            raise GradingError(f"cannot start the grading process ({exc}); is Python installed correctly?") from None
        finally:
            os.close(write_fd)
            os.close(bell_write)
        return cls(process, read_fd, bell_read, output)

    def events(self, *, deadline: Any) -> Iterable[dict[str, Any] | None]:
        """Events in the order the child wrote them; None when ``deadline()`` passes first; ends
        when the child has closed the stream (it exited).

        The stream is read in batches: every POLL_S, or at once when the child rings the bell (after
        the events that end a phase: collected, job_done, done) or exits.  Waking for every line
        instead made each of a warm worker's ~170 lines per submission hand the CPU to this process
        and back, about 15 ms of its 200 ms.  A ``start`` read up to POLL_S late moves that test's
        kill by as much, which the grace period (GRACE_S) absorbs.
        """
        selector = selectors.DefaultSelector()
        selector.register(self.bell_fd if self._bell_open else self.events_fd, selectors.EVENT_READ)
        try:
            while True:
                self._read_available()
                while self._lines:
                    yield json.loads(self._lines.popleft())
                if self._ended:
                    return
                wait = deadline() - time.monotonic()
                if wait <= 0:
                    yield None
                    return
                if selector.select(timeout=min(wait, POLL_S)) and self._bell_open and not self._ring_off():
                    self._bell_open = False  # the child closed its end: wait on the stream's own end
                    selector.unregister(self.bell_fd)
                    selector.register(self.events_fd, selectors.EVENT_READ)
        finally:
            selector.close()

    def _read_available(self) -> None:
        """Move what the events pipe holds now into ``_lines`` (complete lines only)."""
        while not self._ended:
            try:
                chunk = os.read(self.events_fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                self._ended = True
                return
            *lines, self._pending = (self._pending + chunk).split(b"\n")
            self._lines.extend(lines)

    def _ring_off(self) -> bool:
        """Empty the bell; False if the child has closed it."""
        try:
            return bool(os.read(self.bell_fd, 1 << 12))
        except BlockingIOError:  # pragma: no cover - select said readable
            return True

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()

    def wait(self) -> int:
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.returncode

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        else:  # the child is gone; anything it started in its session goes too
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        os.close(self.events_fd)
        os.close(self.bell_fd)
        self._tail = self.output_tail()
        self.output.close()

    def output_tail(self) -> str:
        """The last of what the child printed (stdout and stderr together)."""
        if self.output.closed:
            return self._tail
        self.output.seek(0, os.SEEK_END)
        size = self.output.tell()
        self.output.seek(max(0, size - OUTPUT_TAIL))
        return self.output.read().decode("utf-8", "replace")
