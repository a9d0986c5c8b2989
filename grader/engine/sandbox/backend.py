"""The trusted side of the sandbox: the backends that run ``StudentSide`` somewhere, and the
proxy tests use to reach it.

* ``ExerciseProxy`` is what the ``student`` and ``reference`` fixtures give a test.  It encodes
  a request, hands it to a backend, decodes the reply, and raises ``StudentCodeError`` for an
  error record.
* ``InProcessBackend`` runs ``StudentSide`` in this process (the reference, plain ``pytest``,
  and the fake for the framework's tests); ``ProcessBackend`` runs it in sandbox processes
  forked from the zygote, one per exercise.  Because tests only ever see the proxy and only
  plain data crosses, the two are interchangeable.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import socket
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Final, Protocol, cast

from .. import transport
from ..protocol import CallRequest, ErrorStatus, LoadRequest, ProbeRequest, Request, SandboxSettings, SpawnSettings
from .channel import recv_frame, send_frame
from .confinement import OUTPUT_FILE
from .student import WHERE_FILE, StudentCodeError, StudentSide, Submission, TestTimeout
from .zygote import Zygote


@dataclass(frozen=True)
class Route:
    """Where a request goes, read by a backend without decoding the request (its arguments)."""

    week: str
    exercise: str
    op: str  # "call", "probe" or "load"


class Backend(Protocol):
    """Executes one encoded request against student code; returns the decoded reply.

    The reply is ``(True, value)`` or ``(False, error record)``; a reply that does not decode is
    the backend's to deal with (a process backend ends the sandbox that sent it).
    """

    def execute(self, request: bytes, route: Route) -> tuple[bool, Any]: ...


_ERROR_STATUSES: Final = frozenset(ErrorStatus.__args__)  # type: ignore[attr-defined]


def read_reply(reply: transport.Buffer) -> tuple[bool, Any]:
    """Decode a StudentSide reply; anything but a plain value or a well-formed error record is
    a MalformedMessage (this is the trust boundary: the bytes may come from a hostile process)."""
    reply = memoryview(reply).cast("B")
    tag, value = bytes(reply[:1]), transport.decode(reply[1:])
    if tag == b"K":
        return True, value
    well_formed = (
        tag == b"E"
        and isinstance(value, dict)
        and value.get("status") in _ERROR_STATUSES
        and isinstance(value.get("message"), str)
        and isinstance(value.get("traceback"), str)
    )
    if not well_formed:
        raise transport.MalformedMessage("not a reply")
    return False, value


class InProcessBackend:
    """Runs StudentSide in this process: the first version, and the fake for the framework's tests."""

    def __init__(self, submission: Submission, package: str) -> None:
        self.side = StudentSide(submission, package)

    def execute(self, request: bytes, route: Route) -> tuple[bool, Any]:
        return read_reply(self.side.execute(request))


class ExerciseProxy:
    """A learner's (or the reference's) module as a test sees it: ``student.entropy(p)``, ``student.run(probe)``."""

    def __init__(self, backend: Backend, *, week: str, exercise: str, label: str) -> None:
        self._backend = backend
        self._week = week
        self._exercise = exercise
        self._label = label

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            request: CallRequest = {
                "op": "call", "week": self._week, "exercise": self._exercise,
                "function": name, "args": list(args), "kwargs": kwargs,
            }  # fmt: skip
            return self._send(request)

        call.__name__ = name
        return call

    def run(self, probe: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``probe(module, *args, **kwargs)`` where the code lives and return its plain-data result."""
        __tracebackhide__ = True
        source, name = probe_source(probe)
        request: ProbeRequest = {
            "op": "probe", "week": self._week, "exercise": self._exercise,
            "source": source, "name": name, "args": list(args), "kwargs": kwargs,
        }  # fmt: skip
        return self._send(request)

    def _send(self, request: Request) -> Any:
        __tracebackhide__ = True
        route = Route(self._week, self._exercise, request["op"])
        ok, value = self._backend.execute(transport.encode(request, name="the test's arguments"), route)
        if not ok:
            raise StudentCodeError(value["status"], value["message"], traceback_text=value["traceback"])
        return value

    def __repr__(self) -> str:
        return f"<{self._label} module {self._week}/{self._exercise}.py>"


@dataclass
class _Sandbox:
    """One running sandbox: its channel, process and private copy of one week's files."""

    exercise: tuple[str, str]
    channel: socket.socket
    pid: int
    workdir: Path
    load_sent: bool = False  # a load request went ahead of need; its reply is still to be read
    crashed: bool = False  # stopped to learn how it ended: its folder is this side's to remove
    output_read: int = 0  # how much of its output a test has already been shown

    @property
    def running(self) -> bool:
        return self.channel.fileno() >= 0  # a stopped sandbox's channel is closed


class ProcessBackend:
    """Runs StudentSide in a sandbox process forked from the zygote, one sandbox per exercise.

    The trusted process only ever receives transport messages.  A sandbox that crashes or
    exits fails the running test with what happened; a time-out (the plugin's alarm, raised
    while this side waits) kills it; either way the next call gets a fresh sandbox.

    ``upcoming`` is the order in which the tests will need the exercises.  Once one exercise's
    sandbox has answered, the next exercise's is started and asked to import its module, so that
    its start and import overlap with the tests before it (about 10 ms per exercise).  Its import
    still answers the load of that exercise's first test, under that test's time limit: a file
    that hangs or crashes on import fails its own tests, never earlier ones.  The cost: such a
    file's import runs alongside the previous exercise's tests.
    """

    def __init__(self, zygote: Zygote, settings: SandboxSettings, upcoming: tuple[tuple[str, str], ...] = ()) -> None:
        self.zygote = zygote
        self.settings = settings
        self.upcoming = list(upcoming)
        self.current: _Sandbox | None = None
        self.ahead: _Sandbox | None = None
        self.import_failures: dict[tuple[str, str], StudentCodeError] = {}

    def execute(self, request: bytes, route: Route) -> tuple[bool, Any]:
        exercise = (route.week, route.exercise)
        if exercise in self.import_failures:
            raise self.import_failures[exercise]
        if self.current is None or not self.current.running or exercise != self.current.exercise:
            self._switch(exercise)
        sandbox = self.current
        assert sandbox is not None
        try:
            if sandbox.load_sent:
                sandbox.load_sent = False
                early = read_reply(recv_frame(sandbox.channel))
                if route.op == "load":
                    return early
            send_frame(sandbox.channel, request)
            reply = read_reply(recv_frame(sandbox.channel))
            self._start_ahead()
            return reply
        except transport.MalformedMessage:  # a forged or garbled reply ends this sandbox, not later tests
            self.stop()
            raise StudentCodeError(
                "error", "your code sent back something that is not a value (it wrote to the grader's channel?)"
            ) from None
        except TestTimeout as exc:
            exc.where = self._where_it_was(sandbox, WHERE_FILE, marker="Timeout (")
            self.stop()
            if route.op == "load":  # the file itself hangs: every test of it would
                shown = f"{self.settings['label']}/{exercise[0]}/{exercise[1]}.py"
                self.import_failures[exercise] = StudentCodeError(
                    "import_error",
                    f"importing {shown} took longer than {exc.seconds:g} s; does it run code at import time?",
                )
            raise
        except (EOFError, OSError):
            code = self.stop(wait=True)
            where = self._where_it_was(sandbox, OUTPUT_FILE, marker="Fatal Python error")
            raise StudentCodeError("crashed", crash_message(code) + (f" at {where}" if where else "")) from None

    def _switch(self, exercise: tuple[str, str]) -> None:
        """Make ``exercise``'s sandbox the current one: the one started ahead, or a new one."""
        self.stop()
        self._remove_crashed_folder()
        if self.ahead is not None and self.ahead.exercise == exercise:
            self.current, self.ahead = self.ahead, None
        else:
            self.current = self._start(exercise)
        if exercise in self.upcoming:
            del self.upcoming[: self.upcoming.index(exercise) + 1]

    def _start(self, exercise: tuple[str, str]) -> _Sandbox:
        import tempfile

        workdir = Path(tempfile.mkdtemp(prefix="sandbox-", dir=self.zygote.base))
        week = exercise[0]
        try:
            copy_plain_files(Path(self.settings["submission"]) / week, workdir / week)
            settings = cast(SpawnSettings, {**self.settings, "week": week, "workdir": str(workdir), "drop_root": False})
            channel, pid = self.zygote.spawn(settings)  # the zygote decides drop_root
        except BaseException:
            _remove(workdir)
            raise
        return _Sandbox(exercise, channel, pid, workdir)

    def _start_ahead(self) -> None:
        """Start the next exercise's sandbox, importing its module, unless one is there already.

        Called once the current sandbox has answered (by then the zygote has forked a spare
        again, so this spawn does not wait for that fork)."""
        following = self.upcoming[0] if self.upcoming else None
        if self.ahead is not None or following is None or following in self.import_failures:
            return
        if self.current is not None and following == self.current.exercise:
            return
        self.ahead = self._started_ahead(following)

    def _started_ahead(self, exercise: tuple[str, str]) -> _Sandbox | None:
        """A sandbox for a later exercise, already importing its module; None if it cannot start
        now (its first test then starts one the usual way, and meets the same problem there)."""
        try:
            sandbox = self._start(exercise)
        except (StudentCodeError, OSError):
            return None
        try:
            load: LoadRequest = {"op": "load", "week": exercise[0], "exercise": exercise[1]}
            send_frame(sandbox.channel, transport.encode(load))
        except OSError:
            self._end(sandbox)
            return None
        sandbox.load_sent = True
        return sandbox

    def stop(self, *, wait: bool = False) -> int | None:
        """End the current sandbox (if any).  With ``wait``, return how it ended (a crash's signal);
        its folder then stays until the next sandbox starts, for ``_where_it_was``.  Without,
        the zygote kills it, removes its folder and reaps it later, and this side waits for none
        of it: a sandbox's normal end costs one message."""
        sandbox = self.current
        if sandbox is None or not sandbox.running:
            return None
        sandbox.channel.close()
        if wait:
            sandbox.crashed = True
            return self.zygote.stop(sandbox.pid)
        self.zygote.end(sandbox.pid, sandbox.workdir)
        return None

    def close(self) -> None:
        """End every sandbox and delete their copies of the learner's files (a warm worker's next
        job must not find them)."""
        self.stop()
        self._remove_crashed_folder()
        self.current = None
        self._end_ahead()

    def _remove_crashed_folder(self) -> None:
        """The folder of a current sandbox that crashed: kept for _where_it_was until now, and
        this side's to remove (the zygote removes those of sandboxes that ended normally)."""
        if self.current is not None and self.current.crashed:
            _remove(self.current.workdir)

    def _end_ahead(self) -> None:
        if self.ahead is not None:
            self._end(self.ahead)
            self.ahead = None

    def _end(self, sandbox: _Sandbox) -> None:
        sandbox.channel.close()
        self.zygote.end(sandbox.pid, sandbox.workdir)

    def _where_it_was(self, sandbox: _Sandbox, name: str, *, marker: str) -> str:
        """``exercises/week/x.py:8``: the innermost learner frame of the last stack dump in one of
        the sandbox's files (the fault handler's, after ``marker``), or "" if there is none."""
        import re

        try:  # the sandbox may have replaced the file by a link: never follow it
            with _open_sandbox_file(sandbox.workdir / name) as dump:
                size = os.fstat(dump.fileno()).st_size
                dump.seek(max(0, size - 32000))
                text = dump.read(32000).decode(errors="replace")
        except OSError:
            return ""
        root = str(sandbox.workdir)
        for path, line in re.findall(r'File "([^"]+)", line (\d+)', text[text.rfind(marker) :]):
            if path.startswith(root + "/"):
                return f"{self.settings['label']}{path[len(root) :]}:{line}"
        return ""

    def take_output(self, *, keep: bool, lines: int = 20) -> str:
        """What the current sandbox's code printed since the last call: its last ``lines`` lines
        if ``keep`` (a failing test's, for ``grade -v``), else nothing (the start of a test)."""
        sandbox = self.current
        if sandbox is None:
            return ""
        if not keep:  # twice per test: a size is enough (lstat follows no link the sandbox planted)
            try:
                sandbox.output_read = os.lstat(sandbox.workdir / OUTPUT_FILE).st_size
            except OSError:
                pass
            return ""
        try:
            with _open_sandbox_file(sandbox.workdir / OUTPUT_FILE) as output:
                end = output.seek(0, 2)
                start = max(sandbox.output_read, end - 4096)
                output.seek(start)
                text = output.read(end - start).decode(errors="replace")
        except OSError:
            return ""
        sandbox.output_read = end
        return "\n".join(text.splitlines()[-lines:])


def _open_sandbox_file(path: Path) -> Any:
    """A file of a sandbox's folder, for reading; a link planted in its place is not followed (OSError)."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb")


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)  # does not follow links planted inside


MAX_COPIED_ENTRIES: Final = 10_000


def copy_plain_files(source: Path, target: Path) -> None:
    """Copy a learner's folder for a sandbox: folders and regular files only, never following a
    link (a submission's link to /etc/shadow or to another learner's folder is left out, so the
    trusted side never reads through it), at most ``MAX_COPIED_ENTRIES`` entries."""
    target.mkdir(mode=0o700)
    pending, copied = [(source, target)], 0
    while pending:
        here, there = pending.pop()
        with os.scandir(here) as entries:
            for entry in entries:
                copied += 1
                if copied > MAX_COPIED_ENTRIES or entry.name == "__pycache__":
                    continue
                if entry.is_dir(follow_symlinks=False):
                    (there / entry.name).mkdir(mode=0o700)
                    pending.append((Path(entry.path), there / entry.name))
                elif entry.is_file(follow_symlinks=False):
                    _copy_file(Path(entry.path), there / entry.name)


def _copy_file(source: Path, target: Path) -> None:
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return  # replaced by a link or a fifo since it was listed: left out
    with os.fdopen(fd, "rb") as reading, open(target, "xb") as writing:
        shutil.copyfileobj(reading, writing)


def crash_message(code: int | None, *, what: str = "the sandbox") -> str:
    """What a process's end means for the learner: an exit code, or a signal (negative code)."""
    import signal

    if code is None:
        return f"{what} stopped answering"
    if code >= 0:
        return (
            f"{what} exited with code {code} during this test (os._exit or a kill?); a function must return its result"
        )
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = str(-code)
    names = {
        "SIGSEGV": "segmentation fault",
        "SIGBUS": "bus error",
        "SIGFPE": "floating-point exception",
        "SIGILL": "illegal instruction",
        "SIGABRT": "abort",
        "SIGKILL": "killed, for example for using too much memory",
        "SIGXCPU": "CPU time limit",
    }
    return f"crashed {what} ({names.get(name, name)})"


def probe_source(probe: Callable[..., Any]) -> tuple[str, str]:
    """The source text of a probe, which must be a plain top-level function with no closure."""
    if not inspect.isfunction(probe) or probe.__closure__ or probe.__qualname__ != probe.__name__:
        raise TypeError(
            f"run() takes a top-level function of the test module as its probe, not {probe!r}; "
            "a probe crosses to the student's process as source text"
        )
    return _function_source(probe)


@functools.cache  # inspect.getsource costs more than the probe's round trip; a warm worker reuses it per learner
def _function_source(probe: types.FunctionType) -> tuple[str, str]:
    source = textwrap.dedent(inspect.getsource(probe))
    if not source.lstrip().startswith("def "):
        raise TypeError(f"probe {probe.__name__} must not have decorators")
    return source, probe.__name__
