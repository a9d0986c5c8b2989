"""The grading child's event stream, both ends: ``EventStream`` writes it (in the child, for the
plugin), ``Child`` is the parent's handle on the child process and reads it in batches, and
``Follow`` is the parent's one reader of events: it keeps what the stream said (the collection
and its errors, the confinement, the test running, the learner module being imported) and hands
each test's start and outcome to the runner.  The events are ``protocol.Event``.
"""

from __future__ import annotations

import collections
import json
import os
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, Literal, cast

from ..core.errors import GradingError
from ..core.results import STATUSES, Curve, Status, TestInfo, TestOutcome
from .protocol import URGENT_EVENTS, Event, EventKind

GRACE_S: Final = 3.0  # the child's own alarm fires at the limit; the kill comes this much later
POLL_S: Final = 0.02  # how often a grading child's event stream is read while it runs (see Child.events)
IDLE_LIMIT_S: Final = 300.0  # no event for this long outside a test (collection, start-up): give up
OUTPUT_TAIL: Final = 32000


def parse_event(line: bytes) -> Event:
    """One line of the stream.  The child is the grader's own process (learner code runs in the
    sandbox), so its events are trusted to have the shape ``protocol`` gives them."""
    return cast(Event, json.loads(line))


class EventStream:
    """JSON lines to the parent process; a no-op in a plain pytest run.

    The parent reads the lines in batches (``POLL_S``), not one by one, so that a line costs
    this process no wake-up of the parent.  Events the parent acts on at once (the tests are
    collected, a job or the whole run is over) also ring the bell, a second pipe it waits on.
    """

    def __init__(self, fd: int | None, bell_fd: int | None = None) -> None:
        self.fd = fd
        self.bell_fd = bell_fd

    def emit(self, event: Event) -> None:
        if self.fd is None:
            return
        line = (json.dumps(event) + "\n").encode("utf-8")
        while line:
            line = line[os.write(self.fd, line) :]
        if self.bell_fd is not None and event["event"] in URGENT_EVENTS:
            try:
                os.write(self.bell_fd, b"!")
            except BlockingIOError:  # the bell holds unread rings: the parent will look anyway
                pass


class Child:
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
    def launch(
        cls,
        command: Callable[[int, int], list[str]],
        *,
        cwd: Path,
        env: dict[str, str],
        scratch: Path,
        extra_fds: tuple[int, ...] = (),
    ) -> Child:
        """Start ``command(events_fd, bell_fd)``: a process that writes its events to the first
        descriptor and rings the second (see ``EventStream``)."""
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

    def events(self, *, deadline: Callable[[], float]) -> Iterator[Event | None]:
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
                    yield parse_event(self._lines.popleft())
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


def _ignore(_: object) -> None:
    pass


Ending = Literal["stopped", "ended", "timed_out"]


@dataclass
class Follow:
    """Follows one child's event stream: the parent's one reader of events.

    ``until(kinds)`` reads until one of ``kinds`` arrives ("stopped"), the child closes the stream
    ("ended": it exited) or the deadline passes ("timed_out"): a running test's limit plus
    GRACE_S, else IDLE_LIMIT_S since the last event.  Only tests of the collection (``tests``:
    given, or the first ``collected`` event's) are started and finished.
    """

    child: Child
    tests: dict[str, TestInfo] = field(default_factory=dict)
    on_collected: Callable[[tuple[TestInfo, ...]], None] = _ignore
    on_started: Callable[[TestInfo], None] = _ignore
    on_outcome: Callable[[TestOutcome], None] = _ignore
    collected: tuple[TestInfo, ...] | None = None  # what this child collected, once it said
    collect_errors: list[str] = field(default_factory=list)
    confinement: str | None = None
    current: TestInfo | None = None  # the test running: started, no result yet
    started: float = 0.0
    importing: str | None = None  # the learner module being imported
    imports_cut: bool = False  # a test timed out while the child imported modules (protocol.ResultEvent)
    last_event: float = field(default_factory=time.monotonic)

    def deadline(self) -> float:
        if self.current is not None:
            return self.started + self.current.timeout_s + GRACE_S
        return self.last_event + IDLE_LIMIT_S

    def until(self, *kinds: EventKind) -> Ending:
        for event in self.child.events(deadline=self.deadline):
            if event is None:
                return "timed_out"
            self._apply(event)
            if event["event"] in kinds:
                return "stopped"
        return "ended"

    def _apply(self, event: Event) -> None:
        self.last_event = time.monotonic()
        if event["event"] == "collected":
            self.collected = tuple(TestInfo.from_dict(t) for t in event["tests"])
            self.on_collected(self.collected)
            if not self.tests:
                self.tests = {i.id: i for i in self.collected}
        elif event["event"] == "collect_error":
            self.collect_errors.append(f"{event['id']}: {event['message']}")
        elif event["event"] == "confinement":
            self.confinement = event["text"]
            if "failure" in event:
                raise GradingError(
                    f"the sandbox for learner code cannot start on this machine: {event['failure']}\n"
                    "Nothing was graded: the fault is in this machine's set-up, not in the code being graded; "
                    "show this message to whoever maintains the grader here."
                )
        elif event["event"] == "start" and event["id"] in self.tests:
            self.current = self.tests[event["id"]]
            self.started = time.monotonic()
            self.on_started(self.current)
        elif event["event"] == "importing":
            self.importing = event["exercise"]
        elif event["event"] == "imported":
            self.importing = None
        elif event["event"] == "result" and event["id"] in self.tests:
            self.imports_cut = self.imports_cut or event.get("imports_cut", False)
            status = cast(Status, event["status"]) if event["status"] in STATUSES else "error"
            info = self.tests[event["id"]]
            self.on_outcome(
                TestOutcome(
                    info,
                    status,
                    event["message"],
                    event["detail"],
                    event["duration"],
                    hint=event.get("hint", ""),
                    diagnosis=event.get("diagnosis", ""),
                    function=event.get("function", ""),
                    findings=tuple(event.get("findings", ())),
                    output=event.get("output", ""),
                    curve=Curve.from_event(event["curve"]) if "curve" in event else None,
                )
            )
            self.current = None
